"""Checkpoint and resume, and Ctrl-C: resumed runs end bit-identical to uninterrupted ones, and a real
SIGINT to a real training process leaves a consistent, resumable run directory."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_same_arrays
from test_conformance import PlainSGD
from typer.testing import CliRunner

import zoo
from zoo import checkpoint as checkpoints
from zoo import modelfile, prefetch
from zoo.cli import app
from zoo.entries import load_entry
from zoo.errors import ConfigError
from zoo.loading import build_catalog, load_plugins
from zoo.runs import list_runs
from zoo.training import Interrupted, train

SMALL_CNN = str(Path(__file__).parent / "data" / "small-cnn-every-layer.toml")
# Dropout, augmentation (its own generator), Nesterov momentum, Adam and batch norm's running statistics:
# every kind of state a run carries.
CASES = {
    "cnn-batchnorm-dropout-augment": (SMALL_CNN, ["train.steps=40", "train.log_every=15"]),
    "dropout-augment-sgd": ("tuned-784-100-200-200-10-dropout-augment", ["train.steps=60", "train.log_every=25"]),
    # Elastic distortions, prefetched: at a checkpoint the thread has already drawn the next batch's noise.
    # 40 steps per epoch of the 5000 training images: step 37 is mid-epoch.
    "elastic-prefetch": ("best-784-800-800-10-elastic", ["train.steps=45", "train.log_every=20"]),
    "adam": ("tuned-784-10-10-adam", ["train.steps=90", "train.log_every=40"]),
    # The weight average (of batch norm's running statistics too), and early stopping's copy of the best average.
    "cnn-average": (SMALL_CNN, ["train.steps=40", "train.log_every=15", "train.average.decay=0.9"]),
    "average-early-stopping": (
        "tuned-784-10-10-adam",
        ["train.steps=90", "train.log_every=20", "train.average.decay=0.95", "train.early_stopping.patience=2"],
    ),
    "random-sample": ("seed-000-random-sample-sgd", ["train.steps=50", "train.log_every=20"]),
    # 79 steps per epoch of the 5000 training images: step 37 is mid-warm-up.
    "adam-warmup-cosine": (
        "tuned-784-10-10-adam",
        ["train.steps=90", "train.log_every=20", "schedule.type=cosine", "schedule.warmup_epochs=1"],
    ),
    # Patience 0 halves the rate at every log point without improvement; early stopping watches in the meantime.
    "sgd-plateau-early-stopping": (
        "tuned-784-100-200-200-10-dropout-augment",
        [
            "train.steps=60",
            "train.log_every=10",
            "schedule.type=reduce_on_plateau",
            "schedule.patience=0",
            "schedule.factor=0.5",
            "train.early_stopping.patience=3",
        ],
    ),
}


@pytest.mark.parametrize("stop_at", [1, 37])
@pytest.mark.parametrize("case", sorted(CASES))
def test_resuming_from_a_checkpoint_is_bit_identical(case, stop_at, catalog, small_mnist, tmp_path, monkeypatch):
    monkeypatch.setattr(prefetch, "core_to_spare", lambda: True)  # augmented cases prefetch on any machine
    name, overrides = CASES[case]
    entry = load_entry(name, catalog, overrides)
    whole, whole_result = train(entry, small_mnist, catalog, seed=3)

    saved = []
    steps = iter(range(10**6))
    with pytest.raises(Interrupted) as stopped:
        train(
            entry,
            small_mnist,
            catalog,
            seed=3,
            on_checkpoint=saved.append,
            should_stop=lambda: next(steps) >= stop_at,
        )
    assert stopped.value.step == stop_at and saved[-1].step == stop_at
    checkpoints.save(tmp_path / "c.npz", saved[-1])  # through the file, as a real resume goes
    resumed, resumed_result = train(entry, small_mnist, catalog, seed=3, resume=checkpoints.load(tmp_path / "c.npz"))

    assert_same_arrays(whole.state(), resumed.state())
    fields = lambda r: (r.step, r.loss, r.train_accuracy, r.val_loss, r.val_accuracy)  # noqa: E731  (not seconds)
    assert list(map(fields, resumed_result.history)) == list(map(fields, whole_result.history))
    assert resumed_result.test_accuracy == whole_result.test_accuracy
    assert (resumed_result.kept_epoch, resumed_result.ended) == (whole_result.kept_epoch, whole_result.ended)


def test_periodic_checkpoints_every_n_steps(catalog, small_mnist):
    entry = load_entry("seed-000-random-sample-sgd", catalog, ["train.steps=50"])
    saved = []
    train(entry, small_mnist, catalog, checkpoint_every=20, on_checkpoint=saved.append)
    assert [c.step for c in saved] == [20, 40]  # none at the end: the model file is the final state


class PlainStepPlugin:
    @zoo.hookimpl
    def register_optimizers(self, register):
        register("plain_step", PlainSGD)  # no state()/load_state(): written before checkpoints


def test_an_optimizer_without_state_methods_cannot_checkpoint_but_still_trains(small_mnist):
    catalog = build_catalog(load_plugins([PlainStepPlugin()]))
    entry = load_entry("seed-000-random-sample-sgd", catalog, ["train.steps=5", "optimizer.type=plain_step"])
    with pytest.raises(ConfigError, match="optimizer 'plain_step' cannot be checkpointed: it has no state"):
        train(entry, small_mnist, catalog, checkpoint_every=2)
    with pytest.raises(Interrupted):  # Ctrl-C still stops it cleanly, without a checkpoint
        train(entry, small_mnist, catalog, should_stop=lambda: True, on_checkpoint=pytest.fail)
    assert train(entry, small_mnist, catalog)[1].history


def test_a_checkpoint_that_does_not_fit_the_network_is_refused(catalog, small_mnist):
    small = load_entry("seed-000-random-sample-sgd", catalog, ["train.steps=3"])
    saved = []
    train(small, small_mnist, catalog, checkpoint_every=2, on_checkpoint=saved.append)
    other = load_entry("tuned-784-512-10-dropout", catalog, ["train.steps=3"])
    with pytest.raises(checkpoints.CheckpointError, match="does not match"):
        train(other, small_mnist, catalog, resume=saved[0])


def test_a_foreign_or_truncated_checkpoint_file_is_refused(tmp_path):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.zeros(3))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(b"PK\x03\x04" + b"\0" * 20)
    for path in (foreign, truncated, tmp_path / "missing.npz"):
        with pytest.raises(checkpoints.CheckpointError, match="not a usable checkpoint"):
            checkpoints.load(path)


# --- the real thing: a training process, a real SIGINT, a resume through the CLI -------------------------

ENTRY = "tuned-784-512-10-dropout"
OVERRIDES = ["--set", "train.steps=400", "--set", "train.log_every=10", "--set", "batches.size=32"]
# Warm-up then cosine, and early stopping with a patience the 40 log points may or may not exhaust.
CONTROLS = [
    "--set",
    "schedule.type=cosine",
    "--set",
    "schedule.warmup_epochs=0.2",
    "--set",
    "train.early_stopping.patience=8",
]
# Patience 1 halves the rate at the first log point without improvement: stopped mid-plateau.
PLATEAU = ["--set", "schedule.type=reduce_on_plateau", "--set", "schedule.patience=1", "--set", "schedule.factor=0.5"]
STOPPED = {
    "mlp": (ENTRY, []),
    "cnn-batchnorm": (SMALL_CNN, []),
    "mlp-warmup-cosine-early-stopping": (ENTRY, CONTROLS),
    "mlp-reduce-on-plateau": (ENTRY, PLATEAU),
}


def _start(runs, data_env, entry=ENTRY, extra=()):
    env = os.environ | {"ZOO_DATA": str(data_env), "ZOO_RUNS": str(runs)}
    command = [sys.executable, "-m", "zoo", "train", entry, *OVERRIDES, *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_metrics(runs, process, lines=1, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        found = list(runs.glob("*/metrics.jsonl"))
        if found and len(found[0].read_text().splitlines()) >= lines:
            return found[0].parent
        time.sleep(0.05)
    raise AssertionError("training never logged")


@pytest.mark.parametrize("entry, extra", STOPPED.values(), ids=STOPPED.keys())
def test_ctrl_c_checkpoints_and_resume_ends_bit_identical(entry, extra, tmp_path, data_env, monkeypatch):
    runs = tmp_path / "runs"
    process = _start(runs, data_env, entry, extra)
    run = _wait_for_metrics(runs, process)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    message = stderr.strip().splitlines()[-1]
    assert message.startswith("error: ") and "interrupted after step" in message
    assert f"zoo train --resume {run.name}" in message
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "interrupted" and (run / "checkpoint.npz").is_file()
    assert not list(run.glob(".*.tmp"))  # no half-written file left behind

    monkeypatch.setenv("ZOO_RUNS", str(runs))
    runner = CliRunner()
    resumed = runner.invoke(app, ["train", "--resume", run.name, "--json"])
    assert resumed.exit_code == 0, resumed.stderr
    assert json.loads((run / "run.json").read_text())["status"] == "completed"
    whole = runner.invoke(app, ["train", entry, *OVERRIDES, *extra, "--json"])
    assert whole.exit_code == 0, whole.stderr
    catalog_free = {}
    for key, result in (("resumed", resumed), ("whole", whole)):
        path = runs / json.loads(result.stdout)["run"] / "model.npz"
        with np.load(path, allow_pickle=False) as archive:
            catalog_free[key] = {k: archive[k] for k in archive.files if k != modelfile.META_KEY}
    assert_same_arrays(catalog_free["resumed"], catalog_free["whole"])
    resumed_log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    whole_info = json.loads((runs / json.loads(whole.stdout)["run"] / "run.json").read_text())
    whole_log = (runs / whole_info["id"] / "metrics.jsonl").read_text().splitlines()
    last = json.loads(whole_log[-1])["step"]  # 400, unless early stopping ended the run sooner
    assert [r["step"] for r in resumed_log] == list(range(10, last + 1, 10))  # no line lost or repeated
    resumed_info = json.loads((run / "run.json").read_text())
    kept = lambda info: (info["metrics"]["kept_epoch"], info["metrics"]["ended"])  # noqa: E731
    assert kept(resumed_info) == kept(whole_info)


def test_a_second_ctrl_c_stops_at_once_and_leaves_a_consistent_directory(tmp_path, data_env):
    runs = tmp_path / "runs"
    process = _start(runs, data_env)
    run = _wait_for_metrics(runs, process)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "interrupted"
    assert not list(run.glob(".*.tmp"))
    assert [r["status"] for r in list_runs(runs)] == ["interrupted"]


def test_resume_refuses_what_it_cannot_continue(tmp_path, data_env, monkeypatch):
    monkeypatch.setenv("ZOO_RUNS", str(tmp_path))
    runner = CliRunner()
    done = runner.invoke(app, ["train", "seed-000-random-sample-sgd", "--set", "train.steps=3", "--json"])
    run = json.loads(done.stdout)["run"]
    for args, expected in [
        (["train", "--resume", run], "already completed"),
        (["train", "--resume", "nope"], "no run 'nope'"),
        (["train"], "give an entry to train, or --resume RUN"),
        (["train", "--resume", run, "--seed", "3"], "--resume continues a run exactly as it started"),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code == 1 and expected in result.stderr, (args, result.stderr)
