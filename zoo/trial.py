"""One training run end to end, recorded in a run directory: what ``train``, ``compare`` and
``sweep`` (in this process or in workers) all do for each thing they train."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np

import zoo
from zoo import modelfile
from zoo.catalog import Catalog
from zoo.checkpoint import Checkpoint
from zoo.checkpoint import load as load_checkpoint
from zoo.config import ModelEntry
from zoo.datasets import dataset_info
from zoo.entries import load_entry
from zoo.errors import ZooError
from zoo.evaluate import predict
from zoo.loading import default_catalog
from zoo.network import build_network
from zoo.recipe import recipe_hash
from zoo.runs import Run, RunError, find_run, now, read_run, runs_root
from zoo.splits import Splits
from zoo.training import Interrupted, LogRecord, TrainResult, load_splits, train


@attrs.frozen
class Trial:
    """What to train: an entry (name or ``.toml`` path), overrides, a seed, and sweep settings to record."""

    entry: str
    overrides: tuple[str, ...] = ()
    seed: int | None = None
    settings: dict[str, Any] = attrs.field(factory=dict, hash=False)
    group: str | None = None
    test: bool = True
    """False in sweeps: the test set is touched only for the setting finally selected."""

    def label(self) -> str:
        """``entry key=value ... seed=N``: which trial a log line or result is about."""
        return " ".join([self.entry, *(f"{k}={v}" for k, v in self.settings.items()), f"seed={self.seed}"])


@attrs.frozen
class TrialContext:
    """Where and how trials run; the same for every trial of a command."""

    runs_dir: Path
    data_dir: Path | None = None
    checkpoint_every: int = 0


def run_trial(
    trial: Trial,
    options: TrialContext,
    *,
    on_log: Callable[[LogRecord], None] = lambda record: None,
    on_step: Callable[[int, int], None] = lambda step, total: None,
    should_stop: Callable[[], bool] = lambda: False,
    on_start: Callable[[Run], None] = lambda run: None,
) -> dict[str, Any]:
    """Train ``trial`` into a new run directory; its summary, with ``run`` (the id) and ``settings``."""
    catalog = default_catalog()
    entry = load_entry(trial.entry, catalog, list(trial.overrides))
    seed = entry.seed_for(trial.seed)
    splits = prepare(entry, catalog, seed, options.data_dir)
    run = Run.create(
        runs_root(options.runs_dir),
        entry,
        catalog,
        seed=seed,
        overrides=list(trial.overrides),
        classes=list(splits.classes),
        settings=trial.settings,
        group=trial.group,
    )
    on_start(run)
    return _execute(run, entry, splits, catalog, seed, options, None, trial.test, on_log, on_step, should_stop)


def prepare(entry: ModelEntry, catalog: Catalog, seed: int, data_dir: Path | None) -> Splits:
    """The splits ``entry`` trains on with ``seed``, once its network is known to fit them."""
    check_fits(entry, catalog)
    splits = load_splits(entry, catalog, seed, data_dir)
    build_network(entry, catalog, splits.in_shape, len(splits.classes), np.random.SeedSequence(0))  # contract 1
    return splits


def check_fits(entry: ModelEntry, catalog: Catalog) -> None:
    """Build ``entry``'s network for the input its dataset declares, so a network that does not fit its
    images or classes fails before any data is read (datasets of contract 1 declare nothing: skipped)."""
    info = dataset_info(catalog, entry.data.dataset)
    if info is not None:
        build_network(entry, catalog, info.shape, len(info.classes), np.random.SeedSequence(0))


def resume_trial(
    run_id: str,
    options: TrialContext,
    *,
    on_log: Callable[[LogRecord], None] = lambda record: None,
    on_step: Callable[[int, int], None] = lambda step, total: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, Any]:
    """Continue the run ``run_id`` from its checkpoint, in its own directory."""
    path = find_run(run_id, options.runs_dir)
    info = read_run(path)
    if "runs" in info:
        raise RunError(f"{path.name} is a group of runs; resume one of them: {', '.join(info['runs'])}")
    run = Run(path, info)
    if info["status"] == "completed":
        raise RunError(f"run {path.name} already completed")
    if not run.checkpoint_path.is_file():
        raise RunError(
            f"run {path.name} has no checkpoint to resume from "
            "(train with --checkpoint-every N, or stop it with Ctrl-C, to get one)"
        )
    catalog = default_catalog()
    entry = ModelEntry.from_table(info["name"], info["entry"], f"{path / 'run.json'}: entry", catalog)
    checkpoint = load_checkpoint(run.checkpoint_path)
    splits = load_splits(entry, catalog, info["seed"], options.data_dir)
    run.rewrite_log(checkpoint.progress["history"])
    run.update(status="running", error=None, finished=None)
    test = bool(info.get("test", True))
    return _execute(run, entry, splits, catalog, info["seed"], options, checkpoint, test, on_log, on_step, should_stop)


def _execute(
    run: Run,
    entry: ModelEntry,
    splits: Splits,
    catalog: Catalog,
    seed: int,
    options: TrialContext,
    resume: Checkpoint | None,
    test: bool,
    on_log: Callable[[LogRecord], None],
    on_step: Callable[[int, int], None],
    should_stop: Callable[[], bool],
) -> dict[str, Any]:
    """Train, recording everything in ``run``; whatever happens, run.json ends with an honest status."""

    def log(record: LogRecord) -> None:
        run.log(attrs.asdict(record))
        on_log(record)

    run.update(test=test)
    try:
        network, result = train(
            entry,
            splits,
            catalog,
            seed,
            on_log=log,
            on_step=on_step,
            checkpoint_every=options.checkpoint_every,
            on_checkpoint=run.save_checkpoint,
            resume=resume,
            should_stop=should_stop,
            test=test,
        )
    except Interrupted as error:
        run.finish("interrupted", error=str(error))
        if run.checkpoint_path.is_file():
            error.add_note(f"checkpoint in {run.path}; continue with: zoo train --resume {run.info['id']}")
        raise
    except ZooError as error:
        run.finish("failed", error=str(error))
        raise
    except BaseException as error:  # a second Ctrl-C, or a bug: the run must not stay "running"
        status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
        run.finish(status, error=f"{type(error).__name__}: {error}")
        raise
    meta = model_meta(entry, catalog, result, run.info["id"])
    modelfile.save(run.path / "model.npz", network, entry, meta=meta)
    if result.test_predictions is not None:
        run.save_predictions(result.test_predictions)
    run.finish("completed", metrics=run_metrics(result))
    run.checkpoint_path.unlink(missing_ok=True)  # the model file supersedes it
    return result.summary() | {"run": run.info["id"], "settings": run.info["settings"]}


def run_metrics(result: TrainResult) -> dict[str, Any]:
    """The metrics run.json records of a completed run."""
    return {
        "test_accuracy": result.test_accuracy,
        "test_time_shifts": result.test_time_shifts,
        "val_accuracy": result.val_accuracy,
        "train_seconds": result.train_seconds,
        "params": result.params,
        "kept_epoch": result.kept_epoch,
        "ended": result.ended,
    }


def model_meta(entry: ModelEntry, catalog: Catalog, result: TrainResult, run: str | None = None) -> dict[str, Any]:
    """What a model file records of its training: metrics (the test accuracy with the entry's ``[test_time]``
    shifts, recorded beside it), seed, data, recipe hash, date, version and history."""
    return {
        "seed": result.seed,
        "dataset": entry.data.dataset,
        "recipe": recipe_hash(entry, catalog),
        "trained": now(),
        "zoo_version": zoo.__version__,
        "test_accuracy": result.test_accuracy,
        "test_time": attrs.asdict(entry.test_time),
        "val_accuracy": result.val_accuracy,
        "kept_epoch": result.kept_epoch,
        "train_seconds": result.train_seconds,
        "run": run,
        "history": [attrs.asdict(record) for record in result.history],
    }


def evaluate_on_test(path: Path, data_dir: Path | None = None) -> float:
    """Evaluate the completed run ``path`` on its test set, recording the accuracy and predictions in it."""
    catalog = default_catalog()
    run = Run(path, read_run(path))
    network, entry, _ = modelfile.load(path / "model.npz", catalog)
    data = load_splits(entry, catalog, run.info["seed"], data_dir)
    predictions = predict(network, data.test_images, entry=entry)
    accuracy = float(np.mean(predictions == data.test_labels))
    run.save_predictions(predictions)
    run.update(metrics=run.info["metrics"] | {"test_accuracy": accuracy}, test=True)
    return accuracy
