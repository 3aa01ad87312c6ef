"""Finding registry entries by name (or TOML path) and listing them."""

import fnmatch
import functools
from pathlib import Path
from typing import Any

import attrs

import zoo
from zoo.catalog import Catalog
from zoo.config import ModelEntry, parse_toml
from zoo.errors import ConfigError, ZooError


def read_entry_file(path, source: str) -> tuple[dict[str, Any], str]:
    """The TOML table in ``path`` (a Path or importlib resource) and the ``source`` to name in errors."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{source}: cannot read: {error}") from None
    return parse_toml(text, source), source


@attrs.frozen
class RegistryDirectory:
    """A plugin registering every ``*.toml`` file in ``path`` as an entry (a ``ZOO_REGISTRY_PATH`` directory)."""

    path: Path

    @zoo.hookimpl
    def register_models(self, register):
        if not self.path.is_dir():
            raise NotADirectoryError(f"{self.path} is not a directory")
        for item in sorted(self.path.glob("*.toml")):
            register(item.stem, functools.partial(read_entry_file, item, str(item)))


def load_entry(name: str, catalog: Catalog, overrides: list[str] = ()) -> ModelEntry:
    """The validated entry called ``name``, or read from ``name`` if it is a path to a ``.toml`` file."""
    if name.endswith(".toml"):
        path = Path(name)
        if not path.is_file():
            raise ConfigError(f"{name}: no such file")
        table, source = read_entry_file(path, name)
        entry = ModelEntry.from_table(path.stem, table, source, catalog)
    else:
        table, source = catalog.get("model", name).factory()
        entry = ModelEntry.from_table(name, table, source, catalog)
    return entry.with_overrides(list(overrides), catalog)


def matching(names: list[str], pattern: str) -> list[str]:
    """The ``names`` that match the shell-style wildcard ``pattern`` (case-sensitive)."""
    return [name for name in names if fnmatch.fnmatchcase(name, pattern)]


def survey_entries(catalog: Catalog, pattern: str | None = None) -> list[tuple[str, ModelEntry | ZooError]]:
    """``(name, entry)`` for every registered entry matching the wildcard ``pattern``, validated; a broken entry
    (invalid, or claimed by two sources) is its error instead, so one bad entry never hides the others."""
    names = sorted(catalog.names("model") + catalog.clashing("model"))
    listed = []
    for name in matching(names, pattern) if pattern else names:
        try:
            listed.append((name, load_entry(name, catalog)))
        except ZooError as error:
            listed.append((name, error))
    return listed
