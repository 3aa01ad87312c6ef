"""Numerical faults: divergence stops training cleanly, names the step and the layer where values
went non-finite, says what to lower, and keeps the last good checkpoint."""

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner
from zoo_builtins.layers import ParameterFree

import zoo
import zoo.testing
from zoo import checkpoint as checkpoints
from zoo.cli import app
from zoo.config import ModelEntry
from zoo.entries import load_entry
from zoo.errors import DivergenceError
from zoo.runs import list_runs, runs_root
from zoo.training import train


def test_divergence_names_the_step_the_layer_and_the_learning_rate(catalog, small_mnist):
    entry = load_entry("seed-004-online-sgd", catalog, ["optimizer.lr=1e30", "train.steps=50"])
    with pytest.raises(DivergenceError) as caught:
        train(entry, small_mnist, catalog)
    message = str(caught.value)
    assert message.startswith("seed-004-online-sgd: training diverged at step ")
    assert re.search(r"loss is (nan|inf), first non-finite in the (parameters|output) of layer \d \(dense", message)
    assert "learning rate 1e+30 is probably too high: try --set optimizer.lr=<smaller>" in message


def test_divergence_names_per_layer_learning_rates(catalog, small_mnist):
    entry = load_entry("seed-003-minibatch-per-layer-lr", catalog, ["layers.6.lr=1e30", "train.steps=50"])
    with pytest.raises(DivergenceError, match=r"layers.6.lr=1e\+30"):
        train(entry, small_mnist, catalog)


def test_an_overflowing_output_is_traced_to_its_layer(catalog, small_mnist):
    # Finite weights of 1e37 overflow float32 (max 3.4e38) in the first layer's output on the first step.
    entry = load_entry(
        "seed-004-online-sgd", catalog, ["layers.0.weight_init.low=1e37", "layers.0.weight_init.high=2e37"]
    )
    with pytest.raises(DivergenceError, match=r"at step 1 .*first non-finite in the output of layer 0 \(dense\)"):
        train(entry, small_mnist, catalog)


def test_divergence_fails_the_run_and_keeps_the_last_good_checkpoint(data_env):
    args = ["train", "seed-004-online-sgd", "--set", "optimizer.lr=1e30", "--set", "train.steps=400"]
    result = CliRunner().invoke(app, [*args, "--checkpoint-every", "1"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert (
        lines[-1].startswith("error: seed-004-online-sgd: training diverged at step")
        and "Traceback" not in result.stderr
    )
    (info,) = list_runs()
    assert info["status"] == "failed" and "diverged" in info["error"]
    step = int(lines[-1].split("diverged at step ")[1].split()[0])
    kept = checkpoints.load(runs_root() / info["id"] / "checkpoint.npz")
    assert kept.step == step - 1  # the state before the step whose loss was not finite
    assert all(np.isfinite(array).all() for array in kept.params.values())
    assert json.loads((runs_root() / info["id"] / "run.json").read_text())["metrics"] is None


class NanAtEvaluation(ParameterFree):
    """Passes its input on in training and gives NaN at evaluation: a plugin that breaks only on validation."""

    def forward(self, x, training):
        return x if training else x * np.nan

    def backward(self, dy, need_dx=True):
        return dy


class NanPlugin:
    @zoo.hookimpl
    def register_layers(self, register):
        register("nan_at_evaluation", NanAtEvaluation)


def test_a_non_finite_validation_loss_stops_training_and_names_the_layer(small_mnist):
    """Training's loss stays finite, so only the validation check can stop a run whose model gives NaN."""
    catalog = zoo.testing.catalog_with(NanPlugin())
    table = {
        "layers": [
            {"type": "dense", "units": 16},
            {"type": "nan_at_evaluation"},
            {"type": "relu"},
            {"type": "dense", "units": 10},
        ],
        "loss": {"type": "softmax_cross_entropy"},
        "optimizer": {"type": "sgd", "lr": 0.05},
        "batches": {"type": "shuffled", "size": 32},
        "train": {"steps": 40, "log_every": 20},
    }
    entry = ModelEntry.from_table("nan-validation", table, "test", catalog)
    message = r"validation loss is nan at step 20 \(epoch 1\) .*in the output of layer 1 \(nan_at_evaluation\)"
    with pytest.raises(DivergenceError, match=message):
        train(entry, small_mnist, catalog)
