"""Trained weights shipped for registry entries: found by entry name, refused once the entry has changed.

A weights file is a model file (see :mod:`zoo.modelfile`) whose metadata records the recipe hash
(:func:`zoo.recipe.recipe_hash`) of the entry that trained it, with its metrics, seed, zoo version
and date. Plugins register them with the ``register_weights`` hook, built-in ones included.
"""

import contextlib
import importlib.resources.abc  # noqa: F401  (resources.abc.Traversable)
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from zoo import modelfile
from zoo.catalog import Catalog
from zoo.config import ModelEntry
from zoo.entries import load_entry
from zoo.errors import PluginError, ZooError, one_line
from zoo.network import Network
from zoo.recipe import recipe_hash
from zoo.test_time import recorded_shifts


class WeightsError(ZooError):
    """Shipped weights that cannot be used: none for the entry, or trained from another recipe."""


def has_weights(name: str, catalog: Catalog) -> bool:
    return name in catalog.names("weights")


def recorded(name: str, catalog: Catalog) -> dict[str, Any] | None:
    """The metadata recorded with ``name``'s shipped weights, or None without any (read without building)."""
    if not has_weights(name, catalog):
        return None
    with _weights_file(name, catalog) as path:
        return modelfile.read_meta(path)


def load_pretrained(
    name: str, catalog: Catalog, overrides: list[str] = ()
) -> tuple[Network, ModelEntry, dict[str, Any]]:
    """The network with ``name``'s shipped weights, the entry and the recorded metadata.

    Refused when no weights are shipped for ``name``, when the entry (with ``overrides``) no longer
    has the recipe that trained them (the weights would not be what the entry says), or when the
    recorded test accuracy was measured with other ``[test_time]`` shifts than the entry's (unless
    ``overrides`` change them: then the recorded figure is labelled by ``meta["test_time"]``).
    """
    entry = load_entry(name, catalog, list(overrides))
    if not has_weights(name, catalog):
        shipped = ", ".join(sorted(catalog.names("weights"))) or "none"
        raise WeightsError(
            f"{name}: no trained weights are shipped for this entry (train it: zoo train {name}); "
            f"entries with weights: {shipped}"
        )
    with _weights_file(name, catalog) as path:
        network, _, meta = modelfile.load(path, catalog)
    if meta.get("recipe") != recipe_hash(entry, catalog):
        changed = "--set changes its recipe" if overrides else "the entry has changed since they were trained"
        raise WeightsError(
            f"{name}: the shipped weights were trained from another recipe ({changed}); "
            f"train it instead: zoo train {name}"
        )
    asked_for_shifts = overrides and load_entry(name, catalog).test_time != entry.test_time  # --set changed them
    if not asked_for_shifts and recorded_shifts(meta) != entry.test_time.shifts:
        raise WeightsError(
            f"{name}: the shipped weights record a test accuracy measured with {_shifts_text(recorded_shifts(meta))}, "
            f"but the entry predicts with {entry.test_time.shifts} test-time shifts: record it again "
            f"(zoo train {name} --out FILE; zoo's own entries: python benchmarks/ship_weights.py --restamp NAME)"
        )
    return network, entry, meta


def _shifts_text(shifts: int | None) -> str:
    return "test-time shifts it does not record readably" if shifts is None else f"{shifts} test-time shifts"


@contextlib.contextmanager
def _weights_file(name: str, catalog: Catalog) -> Iterator[Path]:
    """The file a ``register_weights`` plugin gives for ``name``, as a real path; anything else is a PluginError."""
    record = catalog.get("weights", name)
    try:
        given = record.factory()
    except Exception as error:  # a plugin's bug: one line naming it
        raise PluginError(
            f"weights {name!r} (plugin {record.plugin!r}) raised {type(error).__name__}: {one_line(error)}"
        ) from None
    if isinstance(given, (str, os.PathLike)):
        given = Path(given)
    if not isinstance(given, resources.abc.Traversable) or not given.is_file():
        raise PluginError(
            f"weights {name!r} (plugin {record.plugin!r}) gave {given!r}, not the path of an existing model file"
        )
    with resources.as_file(given) as path:
        yield path


def is_model_file(spec: str | os.PathLike) -> bool:
    """Whether ``spec`` names a model file rather than an entry: an ``.npz`` name or an existing file."""
    return str(spec).endswith(".npz") or Path(spec).is_file()


def open_model(spec: str | os.PathLike, catalog: Catalog) -> tuple[Network, ModelEntry, dict[str, Any]]:
    """A model file's network, entry and metadata, or, for an entry name, its shipped weights."""
    if is_model_file(spec):
        return modelfile.load(spec, catalog)
    return load_pretrained(str(spec), catalog)
