"""zoo from Python: list entries, create, train and load models, and use plugins defined in the running session.

These are the functions ``import zoo`` gives (``zoo.create``, ``zoo.train``, ...); docs/python.md shows them.
"""

import fnmatch
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

from zoo import session
from zoo.catalog import Catalog
from zoo.config import CLASSES, IMAGE_SHAPE, ModelEntry
from zoo.datasets import dataset_info
from zoo.entries import load_entry, survey_entries
from zoo.errors import ConfigError
from zoo.model import Model
from zoo.network import build_network
from zoo.overrides import Overrides, as_overrides


def list_entries(pattern: str | None = None, *, tags: str | Iterable[str] = ()) -> list[str]:
    """Names of the registry entries matching the wildcard ``pattern`` and having every one of ``tags``, sorted."""
    catalog = session.catalog()
    wanted = {tags} if isinstance(tags, str) else set(tags)
    if not wanted:
        names = sorted(catalog.names("model"))
        return [name for name in names if pattern is None or fnmatch.fnmatchcase(name, pattern)]
    listed = survey_entries(catalog, pattern)
    return [name for name, entry in listed if isinstance(entry, ModelEntry) and wanted <= set(entry.tags)]


def create(
    entry: str | os.PathLike | Mapping[str, Any],
    *,
    set: Overrides = None,
    seed: int | None = None,
    pretrained: bool = False,
) -> Model:
    """A model built from ``entry`` (a registry name, a ``.toml`` path, or an entry table as a dict).

    Untrained, its weights are drawn exactly as training with ``seed`` (default: the entry's) starts
    from. With ``pretrained`` it carries the entry's shipped weights, and ``model.meta`` what was
    recorded when they were trained; an entry changed since (or ``set`` that changes it) is refused.
    """
    catalog = session.catalog()
    seed = _checked_seed(seed)
    if pretrained:
        return _pretrained(entry, catalog, as_overrides(set), seed)
    model_entry = _entry(entry, catalog, as_overrides(set))
    shape, classes = _declared(model_entry, catalog)
    from zoo.training import seeds  # the same streams training draws from

    layers_seed = seeds(model_entry.seed_for(seed))["layers"]
    network = build_network(model_entry, catalog, shape, len(classes), layers_seed)
    return Model(network, model_entry, classes, {}, catalog)


def train(
    entry: str | os.PathLike | Mapping[str, Any],
    *,
    set: Overrides = None,
    seed: int | None = None,
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> Model:
    """Train ``entry`` on its dataset as ``zoo train`` does (same seeds, same numbers) and return the model.

    Progress (a bar and one line per log point) goes to stderr or the notebook unless ``progress``
    is false. Nothing is written to disk: ``model.save(path)`` keeps it.
    """
    from zoo.progress import training_progress
    from zoo.training import load_splits
    from zoo.training import train as run_training
    from zoo.trial import check_fits, model_meta

    catalog = session.catalog()
    seed = _checked_seed(seed)
    model_entry = _entry(entry, catalog, as_overrides(set))
    check_fits(model_entry, catalog)
    data_dir = _data_dir(data_dir)
    splits = load_splits(model_entry, catalog, seed, data_dir)
    console = Console(stderr=True, quiet=not progress)
    with training_progress(model_entry.name, console) as (on_log, on_step):
        network, result = run_training(model_entry, splits, catalog, seed, on_log=on_log, on_step=on_step)
    return Model(network, model_entry, tuple(splits.classes), model_meta(model_entry, catalog, result), catalog)


def load(path: str | os.PathLike) -> Model:
    """The model in a file ``zoo train --out``, ``model.save`` or a run directory wrote (``runs/ID/model.npz``)."""
    from zoo import modelfile

    catalog = session.catalog()
    path = Path(path)
    network, entry, meta = modelfile.load(path / "model.npz" if path.is_dir() else path, catalog)
    return Model(network, entry, _classes(entry, catalog, network.shapes[-1][0]), meta, catalog)


def load_dataset(name: str, *, data_dir: str | os.PathLike | None = None):
    """The dataset ``name`` as stored (:class:`zoo.data.ImageData`: uint8 images, labels, class names), checked."""
    from zoo.datasets import load_dataset as load

    return load(session.catalog(), name, _data_dir(data_dir))


def _pretrained(entry, catalog: Catalog, overrides: list[str], seed: int | None) -> Model:
    from zoo.weights import load_pretrained

    if not isinstance(entry, str) or entry.endswith(".toml"):
        raise ConfigError(f"pretrained=True takes a registry entry's name, not {entry!r}: weights ship by name")
    network, model_entry, meta = load_pretrained(entry, catalog, overrides)
    if seed is not None and seed != meta.get("seed"):
        raise ConfigError(f"{entry}: the shipped weights were trained with seed {meta.get('seed')}, not {seed}")
    return Model(network, model_entry, _classes(model_entry, catalog, network.shapes[-1][0]), meta, catalog)


def _checked_seed(seed) -> int | None:
    """``seed`` as given, if it is None or a non-negative int (a bool or a float would be read as another seed)."""
    if seed is None or (type(seed) is int and seed >= 0):
        return seed
    raise ConfigError(f"seed= takes a non-negative integer, not {seed!r}")


def _entry(entry, catalog: Catalog, overrides: list[str]) -> ModelEntry:
    if isinstance(entry, Mapping):
        table = dict(entry)
        name = str(table.pop("name", "notebook-entry"))
        return ModelEntry.from_table(name, table, f"entry {name!r}", catalog).with_overrides(overrides, catalog)
    if not isinstance(entry, (str, os.PathLike)):
        raise ConfigError(f"an entry is a registry name, a .toml path or a dict, not {type(entry).__name__}")
    return load_entry(os.fspath(entry), catalog, overrides)


def _declared(entry: ModelEntry, catalog: Catalog) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The per-sample shape and class names the entry's dataset declares (a contract-1 dataset: MNIST's)."""
    info = dataset_info(catalog, entry.data.dataset)
    if info is None:
        return IMAGE_SHAPE, tuple(str(n) for n in range(CLASSES))
    return info.shape, tuple(info.classes)


def _classes(entry: ModelEntry, catalog: Catalog, count: int) -> tuple[str, ...]:
    """The class names of the entry's dataset when it declares as many as the network has outputs."""
    try:
        _, classes = _declared(entry, catalog)
    except ConfigError:  # a model file whose dataset plugin is not installed here still predicts
        classes = ()
    return classes if len(classes) == count else tuple(str(n) for n in range(count))


def _data_dir(data_dir) -> Path | None:
    return None if data_dir is None else Path(data_dir)
