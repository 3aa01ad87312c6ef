"""Run directories: every training run on disk, with what is needed to trust, repeat and plot it.

``<runs>/<id>/`` holds ``run.json`` (status, seed, entry, resolved config, versions, final
metrics; rewritten atomically at each change of status), ``metrics.jsonl`` (one line per
log point, appended as training goes), and once completed ``model.npz`` and
``test_predictions.npy``; ``checkpoint.npz`` when checkpoints were taken. A compare or
sweep also writes ``<runs>/<group id>/group.json`` naming its runs.
"""

import datetime
import importlib.metadata
import json
import os
import platform
import re
import secrets
from pathlib import Path
from typing import Any

import attrs
import numpy as np

import zoo
from zoo import checkpoint as checkpoints
from zoo.atomic import write_atomic, write_json
from zoo.catalog import Catalog
from zoo.config import ModelEntry, PluginRef, resolved
from zoo.errors import ZooError, did_you_mean, one_line

RUNS_ENV = "ZOO_RUNS"


class RunError(ZooError):
    """A run directory that cannot be found, read or written."""


def runs_root(option: str | os.PathLike | None = None) -> Path:
    """Where runs live: the ``--runs-dir`` option, else ``$ZOO_RUNS``, else ``./runs``."""
    return Path(option or os.environ.get(RUNS_ENV) or "runs")


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def new_id(name: str) -> str:
    """``20261125-231512-<name>-3f9a2c``: sortable by time, readable, unique."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}-{secrets.token_hex(3)}"


@attrs.define(eq=False)
class Run:
    """One run directory and its ``run.json`` contents."""

    path: Path
    info: dict[str, Any]

    @classmethod
    def create(
        cls,
        root: Path,
        entry: ModelEntry,
        catalog: Catalog,
        *,
        seed: int,
        overrides: list[str],
        classes: list[str],
        settings: dict[str, Any] | None = None,
        group: str | None = None,
    ) -> "Run":
        info = run_info(entry, catalog, seed=seed, overrides=overrides, classes=classes, settings=settings, group=group)
        run = cls.new_directory(root, info)
        run.write()
        return run

    @classmethod
    def new_directory(cls, root: Path, info: dict[str, Any]) -> "Run":
        """The run ``info`` describes in a new, empty directory ``root/<id>``; run.json is not written yet."""
        run = cls(root / info["id"], info)
        try:
            run.path.mkdir(parents=True)
        except OSError as error:
            raise RunError(f"{run.path}: cannot create the run directory: {one_line(error)}") from None
        return run

    def write(self) -> None:
        try:
            write_json(self.path / "run.json", self.info)
        except OSError as error:
            raise RunError(f"{self.path}: cannot write run.json: {one_line(error)}") from None

    def update(self, **fields: Any) -> None:
        self.info.update(fields)
        self.write()

    def log(self, record: dict[str, Any]) -> None:
        """Append one metrics line; a crash can cut at most this line short, which readers skip."""
        with open(self.path / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def rewrite_log(self, records: list[dict[str, Any]]) -> None:
        """Replace the metrics with ``records`` (on resume: those up to the checkpoint)."""
        text = "".join(json.dumps(record) + "\n" for record in records).encode("utf-8")
        write_atomic(self.path / "metrics.jsonl", lambda f: f.write(text))

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.npz"

    def save_checkpoint(self, checkpoint: checkpoints.Checkpoint) -> None:
        checkpoints.save(self.checkpoint_path, checkpoint)

    def save_predictions(self, predictions: np.ndarray) -> None:
        write_atomic(self.path / "test_predictions.npy", lambda f: np.save(f, predictions.astype(np.int64)))

    def finish(self, status: str, *, metrics: dict[str, Any] | None = None, error: str | None = None) -> None:
        self.update(status=status, metrics=metrics, error=error, finished=now())


def run_info(
    entry: ModelEntry,
    catalog: Catalog,
    *,
    seed: int,
    overrides: list[str],
    classes: list[str],
    settings: dict[str, Any] | None = None,
    group: str | None = None,
) -> dict[str, Any]:
    """What ``run.json`` says of a new run, ``running``, with a new id: the entry, its resolved config, and the
    versions of this process (the one that trains it)."""
    return {
        "id": new_id(entry.name),
        "name": entry.name,
        "group": group,
        "status": "running",
        "error": None,
        "seed": seed,
        "overrides": list(overrides),
        "settings": settings or {},
        "entry": entry.table,
        "config": resolved(entry, catalog),
        "dataset": entry.data.dataset,
        "classes": [str(c) for c in classes],
        "zoo_version": zoo.__version__,
        "packages": package_versions(entry, catalog),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "started": now(),
        "finished": None,
        "metrics": None,
    }


def package_versions(entry: ModelEntry, catalog: Catalog) -> dict[str, str]:
    """zoo's version and that of every distribution providing a plugin the entry uses."""
    refs = [spec.ref for spec in entry.layers] + list(entry.augment) + [entry.loss, entry.optimizer, entry.batches]
    packages = {"numpy-zoo"}
    while refs:
        ref = refs.pop()
        refs += [value for value in ref.options.values() if isinstance(value, PluginRef)]
        packages.add(catalog.get(ref.kind, ref.type).package)
    packages.add(catalog.get("dataset", entry.data.dataset).package)
    versions = {}
    for package in sorted(p for p in packages if p):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "unknown"
    return versions


def read_run(path: Path) -> dict[str, Any]:
    """The ``run.json`` (or ``group.json``) of the directory ``path``."""
    for name in ("run.json", "group.json"):
        if (path / name).is_file():
            try:
                return json.loads((path / name).read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise RunError(f"{path / name}: unreadable: {one_line(error)}") from None
    raise RunError(f"{path}: not a run directory (no run.json)")


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The metrics lines of run ``path``; a last line cut short by a crash is skipped."""
    try:
        lines = (path / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            break
    return records


def find_run(id_or_path: str, root: Path | None = None) -> Path:
    """The run (or group) directory named by a path, an id, or a unique prefix of an id."""
    root = runs_root(root)
    path = Path(id_or_path)
    if (path / "run.json").is_file() or (path / "group.json").is_file():
        return path
    ids = [p.name for p in _directories(root)]
    if id_or_path in ids:
        return root / id_or_path
    matches = [i for i in ids if i.startswith(id_or_path)]
    if len(matches) == 1:
        return root / matches[0]
    if matches:
        raise RunError(f"run {id_or_path!r} is ambiguous in {root}: it starts {', '.join(matches[:5])}")
    raise RunError(f"no run {id_or_path!r} in {root}{did_you_mean(id_or_path, ids)}")


def expand_runs(ids: list[str], root: Path | None = None) -> list[Path]:
    """Run directories for ``ids``; a group id stands for all of its runs, in order."""
    paths: list[Path] = []
    for run_id in ids:
        path = find_run(run_id, root)
        info = read_run(path)
        members = [path.parent / member for member in info["runs"]] if "runs" in info else [path]
        paths += [member for member in members if member not in paths]
    return paths


def list_runs(root: Path | None = None) -> list[dict[str, Any]]:
    """``run.json`` of every run under ``root``, oldest first (unreadable ones skipped)."""
    listed = []
    for path in _directories(runs_root(root)):
        if (path / "run.json").is_file():
            try:
                listed.append(read_run(path))
            except RunError:
                continue
    return listed


def write_group(root: Path, group_id: str, document: dict[str, Any]) -> Path:
    path = root / group_id
    try:
        write_json(path / "group.json", {"id": group_id, **document})
    except OSError as error:
        raise RunError(f"{path}: cannot write group.json: {one_line(error)}") from None
    return path


def _directories(root: Path) -> list[Path]:
    try:
        return sorted(p for p in root.iterdir() if p.is_dir())
    except FileNotFoundError:
        return []
    except OSError as error:
        raise RunError(f"{root}: cannot list runs: {one_line(error)}") from None


def abandon_running(root: Path, group: str, reason: str) -> list[str]:
    """Mark the group's runs still ``running`` (their process was killed) as interrupted; their ids."""
    marked = []
    for info in list_runs(root):
        if info.get("group") == group and info["status"] == "running":
            Run(runs_root(root) / info["id"], info).finish("interrupted", error=reason)
            marked.append(info["id"])
    return marked
