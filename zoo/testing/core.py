"""What every check shares: the error it raises, the plugin under test, and the catalog it comes from."""

import contextlib
from collections.abc import Iterator
from typing import Any

import attrs
import numpy as np

from zoo.catalog import Catalog, Record
from zoo.config import PluginRef, create, plugin_ref
from zoo.errors import ConfigError
from zoo.loading import build_catalog, default_catalog, load_plugins
from zoo.loading import environment as plugin_environment


class ConformanceError(AssertionError):
    """A plugin breaks zoo's contract for its kind.

    The message names the kind, the name, the plugin and package that registered it, the
    options it was made with, what was checked and by how much it failed. The same facts are
    attributes: ``kind``, ``name``, ``plugin``, ``package``, ``check`` (None where they do not apply).
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        name: str | None = None,
        plugin: str | None = None,
        package: str | None = None,
        check: str | None = None,
    ):
        super().__init__(message)
        self.kind, self.name, self.plugin, self.package, self.check = kind, name, plugin, package, check


def catalog_with(*plugins: object) -> Catalog:
    """The default catalog's plugins plus ``plugins`` (objects or modules with ``@zoo.hookimpl`` functions).

    For testing plugins before they are installed: ``catalog_with(my_package.layers)``. Like
    :func:`zoo.loading.default_catalog`, it has every installed plugin and follows
    ``ZOO_PLUGINS``, ``ZOO_DISABLE_PLUGINS`` and ``ZOO_REGISTRY_PATH``, so a test sees the names
    ``zoo`` commands see; ``plugins`` are added even if disabled. A plugin that is loaded already
    is not registered twice.
    """
    environment = plugin_environment()
    loaded = load_plugins(**environment).manager
    return build_catalog(load_plugins([p for p in plugins if not loaded.is_registered(p)], **environment))


@attrs.frozen
class Subject:
    """The plugin under test: its catalog record and its options, resolved as a registry entry's would be."""

    record: Record
    options: dict[str, Any]
    """The options as given (TOML values), for messages and for entries built around the plugin."""
    ref: PluginRef
    catalog: Catalog
    given: tuple[tuple[str, Any], ...] = ()
    """Arguments of the check worth naming in every message, e.g. ``(("in_shape", (2, 6, 6)),)``."""

    @classmethod
    def resolve(cls, kind: str, name: str, options: dict[str, Any] | None, catalog: Catalog | None) -> "Subject":
        """Find ``name`` and validate ``options`` through the entry code path; a mistake raises a ZooError."""
        catalog = default_catalog() if catalog is None else catalog
        options = dict(options or {})
        source = f"zoo.testing: {kind} {name!r}"
        if "type" in options:
            raise ConfigError(f"{source}: options: 'type' is the plugin's name, not an option")
        record = catalog.get(kind, name, source)
        ref = plugin_ref(kind, name, options, source, catalog)
        return cls(record, options, ref, catalog)

    @property
    def name(self) -> str:
        return self.record.name

    def make(self) -> Any:
        """A fresh plugin object, made as training makes it."""
        return create(self.ref, self.catalog)

    def fail(self, check: str, detail: str) -> ConformanceError:
        """The error for a failed ``check``: ``detail`` says what was seen and what was expected."""
        record = self.record
        origin = f"plugin {record.plugin!r}, " + (f"package {record.package}" if record.package else "not installed")
        options = f", options {self.options!r}" if self.options else ""
        options += "".join(f", {key} {value!r}" for key, value in self.given)
        return ConformanceError(
            f"{record.kind} {record.name!r} ({origin}{options}) fails {check}: {detail}",
            kind=record.kind,
            name=record.name,
            plugin=record.plugin,
            package=record.package,
            check=check,
        )


@contextlib.contextmanager
def global_random_state_untouched(subject: Subject, check: str) -> Iterator[None]:
    """Fail ``check`` if the block draws from numpy's global random state (``np.random.*`` functions)."""
    before = _global_random_state()
    yield
    if _global_random_state() != before:
        raise subject.fail(
            check,
            "it drew from numpy's global random state (np.random.*); draw only from the numpy Generator "
            "zoo passes, so runs are reproducible from their seed",
        )


def _global_random_state() -> tuple:
    state = np.random.get_state(legacy=False)
    return state["state"]["key"].tobytes(), state["state"]["pos"], state["has_gauss"], state["gauss"]
