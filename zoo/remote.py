"""Trials trained away from the run directories, as on Dask workers that do not share the client's disk.

The client resolves each trial's entry and sends its table (:class:`RemoteTrial`), so neither a
``.toml`` path nor a ``ZOO_REGISTRY_PATH`` directory has to exist on the worker. The worker
trains and returns a :class:`Trained`, everything the run directory records, having written
nothing; the client writes the run directory with :func:`record`: the files a local run writes,
``run.json`` last, so a run directory with a ``run.json`` is always whole.
"""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from zoo import modelfile
from zoo.catalog import Catalog
from zoo.checkpoint import Checkpoint
from zoo.config import ModelEntry
from zoo.entries import load_entry
from zoo.errors import ZooError, one_line
from zoo.network import build_network
from zoo.runs import Run, RunError, now, run_info
from zoo.training import Interrupted, LogRecord, train
from zoo.trial import Trial, model_meta, prepare, run_metrics


@attrs.frozen
class RemoteTrial:
    """A trial whose entry the client resolved: the entry's name, table and source, and what its run records."""

    name: str
    table: dict[str, Any]
    source: str
    seed: int
    overrides: tuple[str, ...]
    settings: dict[str, Any]
    group: str | None
    test: bool
    label: str


def remote_trial(trial: Trial, catalog: Catalog) -> tuple[RemoteTrial, ModelEntry]:
    """``trial`` as it travels to a worker, and its entry, which the client needs to record the result."""
    entry = load_entry(trial.entry, catalog, list(trial.overrides))
    task = RemoteTrial(
        entry.name,
        entry.table,
        entry.source,
        entry.seed_for(trial.seed),
        tuple(trial.overrides),
        trial.settings,
        trial.group,
        trial.test,
        trial.label(),
    )
    return task, entry


@attrs.frozen
class TrainedModel:
    """What ``model.npz`` holds: the network's arrays (:meth:`Network.state`), its input shape and classes, the meta."""

    arrays: dict[str, np.ndarray] = attrs.field(eq=False, repr=False)
    in_shape: tuple[int, ...]
    n_classes: int
    meta: dict[str, Any] = attrs.field(repr=False)


@attrs.frozen
class Trained:
    """One trial's outcome and everything its run directory records: picklable, about the model's size.

    ``info`` is run.json as the run ended (None when the trial failed before a run began, as a local
    trial then makes no run directory); ``records`` the metrics.jsonl lines; ``summary`` the result
    dict of a completed trial.
    """

    status: str
    error: str | None
    settings: dict[str, Any]
    info: dict[str, Any] | None = None
    records: tuple[dict[str, Any], ...] = ()
    model: TrainedModel | None = None
    predictions: np.ndarray | None = attrs.field(default=None, eq=False, repr=False)
    checkpoint: Checkpoint | None = attrs.field(default=None, repr=False)
    summary: dict[str, Any] | None = attrs.field(default=None, repr=False)


def train_detached(
    task: RemoteTrial,
    catalog: Catalog,
    data_dir: Path | None,
    *,
    on_log: Callable[[LogRecord], None] = lambda record: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Trained:
    """Train ``task`` as :func:`zoo.trial.run_trial` would, writing nothing: the result holds what it would write."""
    info, records, checkpoints = None, [], []

    def log(record: LogRecord) -> None:
        records.append(attrs.asdict(record))
        on_log(record)

    try:
        entry = ModelEntry.from_table(task.name, task.table, task.source, catalog)
        splits = prepare(entry, catalog, task.seed, data_dir)
        info = run_info(
            entry,
            catalog,
            seed=task.seed,
            overrides=list(task.overrides),
            classes=list(splits.classes),
            settings=task.settings,
            group=task.group,
        ) | {"test": task.test}
        network, result = train(
            entry,
            splits,
            catalog,
            task.seed,
            on_log=log,
            on_checkpoint=checkpoints.append,
            should_stop=should_stop,
            test=task.test,
        )
    except ZooError as error:
        status = "interrupted" if isinstance(error, Interrupted) else "failed"
        ended = None if info is None else _ended(info, status, error=str(error))
        return Trained(
            status, str(error), task.settings, ended, tuple(records), checkpoint=next(reversed(checkpoints), None)
        )
    meta = model_meta(entry, catalog, result, info["id"])
    model = TrainedModel(network.state(), tuple(network.in_shape), network.shapes[-1][0], meta)
    return Trained(
        "completed",
        None,
        task.settings,
        _ended(info, "completed", metrics=run_metrics(result)),
        tuple(records),
        model,
        result.test_predictions,
        summary={"status": "completed", **result.summary(), "run": info["id"], "settings": info["settings"]},
    )


def _ended(info: dict[str, Any], status: str, *, metrics: dict | None = None, error: str | None = None) -> dict:
    """``info`` as :meth:`Run.finish` leaves it."""
    return info | {"status": status, "metrics": metrics, "error": error, "finished": now()}


def not_started(task: RemoteTrial, reason: str) -> Trained:
    """The outcome of a trial stopped before it began: interrupted, with no run directory."""
    return Trained("interrupted", reason, task.settings)


def record(trained: Trained, entry: ModelEntry, root: Path, catalog: Catalog) -> dict[str, Any]:
    """Write ``trained``'s run directory under ``root``, as a local run leaves it; the trial's result dict."""
    outcome = {"status": trained.status, "error": trained.error, "settings": trained.settings}
    if trained.info is None:
        return outcome
    run = Run.new_directory(root, trained.info)
    try:
        if trained.records:
            run.rewrite_log(list(trained.records))
        if trained.checkpoint is not None:
            run.save_checkpoint(trained.checkpoint)
        if trained.model is not None:
            _save_model(run.path / "model.npz", trained.model, entry, catalog)
        if trained.predictions is not None:
            run.save_predictions(trained.predictions)
    except OSError as error:
        raise RunError(f"{run.path}: cannot write the run: {one_line(error)}") from None
    run.write()
    return trained.summary if trained.status == "completed" else outcome | {"run": run.info["id"]}


def _save_model(path: os.PathLike, model: TrainedModel, entry: ModelEntry, catalog: Catalog) -> None:
    """The model file the worker's network would have written: the same network rebuilt here, its arrays loaded."""
    network = build_network(entry, catalog, model.in_shape, model.n_classes, np.random.SeedSequence(0))
    network.load_state(model.arrays)
    modelfile.save(path, network, entry, meta=model.meta)
