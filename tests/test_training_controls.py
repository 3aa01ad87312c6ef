"""Training controls: early stopping keeps the best weights however training ends, schedules reach the
optimizer at every step, gradient clipping, and the configuration errors around them."""

import json

import numpy as np
import pytest
from test_checkpoint import PlainStepPlugin
from typer.testing import CliRunner

import zoo
from zoo import modelfile
from zoo.cli import app
from zoo.clipping import clip_global_norm
from zoo.entries import load_entry
from zoo.errors import ConfigError
from zoo.evaluate import evaluate
from zoo.layers import Param
from zoo.loading import build_catalog, load_plugins
from zoo.training import train

ADAM = "tuned-784-10-10-adam"


def _best(history, monitor="val_accuracy"):
    """The first log record with the best value of ``monitor``: the one early stopping keeps."""
    values = [getattr(r, monitor) for r in history]
    best = max(values) if monitor == "val_accuracy" else min(values)
    return history[values.index(best)]


def _assert_kept_is_best(network, result, splits, tmp_path, entry, catalog):
    best = _best(result.history)
    assert (result.val_accuracy, result.kept_epoch) == (best.val_accuracy, best.epoch)
    assert evaluate(network, splits.val_images, splits.val_labels) == (best.val_loss, best.val_accuracy)
    modelfile.save(tmp_path / "m.npz", network, entry, meta={})
    loaded, _, _ = modelfile.load(tmp_path / "m.npz", catalog)
    assert evaluate(loaded, splits.val_images, splits.val_labels)[1] == best.val_accuracy


def test_early_stopping_stops_and_keeps_the_best_epoch(catalog, small_mnist, tmp_path):
    entry = load_entry(ADAM, catalog, ["train.epochs=40", "train.early_stopping.patience=2"])
    network, result = train(entry, small_mnist, catalog)
    assert result.ended == "early stopping" and len(result.history) < 40
    assert result.history[-1].epoch == _best(result.history).epoch + 2  # two log points without improvement
    _assert_kept_is_best(network, result, small_mnist, tmp_path, entry, catalog)


def test_the_best_weights_are_kept_when_the_budget_runs_out_too(catalog, small_mnist, tmp_path):
    """The Keras trap: its callback restores the best weights only when it stops training itself."""
    overrides = ["train.epochs=8", "train.early_stopping.patience=100", "optimizer.lr=0.02", "optimizer.decay=1"]
    entry = load_entry(ADAM, catalog, overrides)
    network, result = train(entry, small_mnist, catalog)
    assert result.ended == "budget" and len(result.history) == 8
    assert result.kept_epoch != result.history[-1].epoch, "this setting should peak before its last epoch"
    _assert_kept_is_best(network, result, small_mnist, tmp_path, entry, catalog)


def test_early_stopping_on_val_loss_with_min_delta(catalog, small_mnist):
    overrides = [
        "train.epochs=30",
        "train.early_stopping.monitor='val_loss'",
        "train.early_stopping.min_delta=0.01",
        "train.early_stopping.patience=1",
    ]
    _, result = train(load_entry(ADAM, catalog, overrides), small_mnist, catalog)
    losses = [r.val_loss for r in result.history]
    kept = losses.index(min(losses[: len(losses) - 1]))  # the last point did not improve by 0.01
    assert result.ended == "early stopping"
    assert losses[-1] > losses[kept] - 0.01 and result.kept_epoch == result.history[kept].epoch


def test_train_reports_the_kept_epoch_and_why_training_ended(tmp_path, data_env, monkeypatch):
    monkeypatch.setenv("ZOO_RUNS", str(tmp_path))
    overrides = [
        "--set",
        "train.epochs=40",
        "--set",
        "train.early_stopping.patience=1",
        "--set",
        "data.validation=50000",
    ]
    result = CliRunner().invoke(app, ["train", ADAM, *overrides])
    assert result.exit_code == 0, result.stderr
    assert "early stopping at epoch" in result.stdout and "the best on validation" in result.stdout
    (run,) = tmp_path.iterdir()
    metrics = json.loads((run / "run.json").read_text())["metrics"]
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics["ended"] == "early stopping" and len(history) < 40
    assert metrics["val_accuracy"] == max(r["val_accuracy"] for r in history)
    assert metrics["kept_epoch"] == next(r["epoch"] for r in history if r["val_accuracy"] == metrics["val_accuracy"])


def test_an_exponential_schedule_is_the_optimizers_decay_bit_for_bit(catalog, small_mnist):
    base = ["train.epochs=3", "optimizer.decay=1"]
    _, decayed = train(load_entry(ADAM, catalog, ["train.epochs=3", "optimizer.decay=0.7"]), small_mnist, catalog)
    scheduled = ["schedule.type='exponential'", "schedule.factor=0.7"]
    _, with_schedule = train(load_entry(ADAM, catalog, base + scheduled), small_mnist, catalog)
    assert [r.loss for r in with_schedule.history] == [r.loss for r in decayed.history]


def test_a_schedule_reaches_every_rate_including_per_layer_ones(small_mnist):
    """Seed 003 gives every layer its own ``lr``; a schedule of constant 0 still freezes every parameter."""
    catalog = build_catalog(load_plugins([ZeroSchedulePlugin()]))
    entry = "seed-003-minibatch-per-layer-lr"
    run = lambda *extra: train(load_entry(entry, catalog, extra), small_mnist, catalog, test=False)[0].state()  # noqa: E731
    assert all(spec.lr for spec in load_entry(entry, catalog).layers if spec.ref.type == "dense")
    one, five, moved = (
        run("train.steps=1", "schedule.type='zero'"),
        run("train.steps=5", "schedule.type='zero'"),
        run("train.steps=1"),
    )
    for key in one:
        assert np.array_equal(one[key], five[key]), key
        assert not np.array_equal(one[key], moved[key]), key


class ZeroSchedule:
    def setup(self, steps_per_epoch, total_steps):
        pass

    def multiplier(self, step):
        return 0.0


class ZeroSchedulePlugin:
    @zoo.hookimpl
    def register_schedules(self, register):
        register("zero", ZeroSchedule)


def test_clip_global_norm_scales_all_gradients_together():
    params = [Param("a", np.zeros(2), np.array([3.0, 0.0])), Param("b", np.zeros(1), np.array([4.0]))]
    assert clip_global_norm(params, 10.0) == 5.0 and params[0].grad.tolist() == [3.0, 0.0]
    assert clip_global_norm(params, 1.0) == 5.0
    np.testing.assert_allclose([*params[0].grad, *params[1].grad], [0.6, 0.0, 0.8], rtol=1e-6)


def test_clipping_changes_training_only_when_the_norm_exceeds_it(catalog, small_mnist):
    run = lambda extra: train(load_entry(ADAM, catalog, ["train.steps=30", *extra]), small_mnist, catalog)[1]  # noqa: E731
    plain, loose, tight = run([]), run(["train.clip_norm=1e9"]), run(["train.clip_norm=1e-3"])
    assert [r.loss for r in loose.history] == [r.loss for r in plain.history]
    assert [r.loss for r in tight.history] != [r.loss for r in plain.history]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["train.early_stopping.patience=2"], "train.early_stopping: watches val_accuracy, but the entry has no valid"),
        (["schedule.type='reduce_on_plateau'"], "schedule: watches val_loss, but the entry has no validation split"),
    ],
)
def test_watching_a_metric_without_a_validation_split_is_refused_when_the_entry_loads(catalog, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_entry(ADAM, catalog, ["data.validation=0", *overrides])


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.early_stopping.monitor='accuracy'", "expected one of val_loss, val_accuracy, got 'accuracy'"),
        ("train.early_stopping.patience=0", "patience: must be an integer > 0"),
        ("train.early_stopping.wait=3", "unknown key 'wait'"),
        ("train.clip_norm=-1", "clip_norm: must be a finite number > 0"),
        ("train.average.decay=1", r"decay: must be between 0 and 1 \(exclusive\), got 1.0"),
        ("train.average.decay=nan", "decay: must be between 0 and 1"),
        ("train.average.rate=0.9", "unknown key 'rate'"),
        ("schedule.type='cosin'", "did you mean 'cosine'"),
        ("schedule.floor=2", "'floor' must be a finite number >= 0 and <= 1, got 2"),
    ],
)
def test_bad_training_controls_fail_when_the_entry_loads(catalog, override, message):
    with pytest.raises(zoo.errors.ZooError, match=message):
        load_entry(
            ADAM, catalog, [override, "schedule.type='cosine'"] if override.startswith("schedule.f") else [override]
        )


def test_an_optimizer_without_scale_lr_trains_without_a_schedule_and_is_refused_with_one(small_mnist):
    catalog = build_catalog(load_plugins([PlainStepPlugin()]))
    plain = load_entry("seed-000-random-sample-sgd", catalog, ["train.steps=3", "optimizer.type='plain_step'"])
    train(plain, small_mnist, catalog, test=False)
    scheduled = load_entry(
        "seed-000-random-sample-sgd",
        catalog,
        ["train.steps=3", "optimizer.type='plain_step'", "schedule.type='cosine'"],
    )
    with pytest.raises(ConfigError, match="this optimizer takes no learning-rate schedule: it has no scale_lr"):
        train(scheduled, small_mnist, catalog, test=False)


class NanSchedule(ZeroSchedule):
    def multiplier(self, step):
        return float("nan") if step == 2 else 1.0


class NanSchedulePlugin:
    @zoo.hookimpl
    def register_schedules(self, register):
        register("nan-at-step-2", NanSchedule)


def test_a_schedule_returning_nan_is_refused_at_that_step_in_one_line(small_mnist):
    catalog = build_catalog(load_plugins([NanSchedulePlugin()]))
    entry = load_entry(ADAM, catalog, ["train.steps=5", "schedule.type='nan-at-step-2'"])
    with pytest.raises(zoo.errors.PluginError, match=r"schedule: the schedule's multiplier\(2\) returned nan, not a"):
        train(entry, small_mnist, catalog, test=False)
