"""Loading plugins: one PluginManager, fed from the ``zoo`` entry-point group.

Built-in plugins are registered exactly like third-party ones: zoo's own
``pyproject.toml`` lists them under ``[project.entry-points.zoo]``.
"""

import functools
import importlib.metadata
from collections.abc import Iterable
from types import ModuleType

import attrs
import pluggy

from zoo import hookspecs
from zoo.catalog import KINDS, Catalog, Failure, Record
from zoo.errors import one_line

ENTRY_POINT_GROUP = "zoo"


@attrs.define
class Plugins:
    """The plugin manager, which package each plugin came from, and the plugins that failed to load."""

    manager: pluggy.PluginManager
    packages: dict[str, str | None] = attrs.field(factory=dict)
    failures: list[Failure] = attrs.field(factory=list)


def load_plugins(extra: Iterable[object] = (), *, entry_points: bool = True) -> Plugins:
    """The installed plugins (unless ``entry_points`` is false) plus the ``extra`` plugin objects."""
    plugins = Plugins(pluggy.PluginManager("zoo"))
    plugins.manager.add_hookspecs(hookspecs)
    if entry_points:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            package = ep.dist.name if ep.dist else None
            try:
                plugins.manager.register(ep.load(), name=ep.value)
            except Exception as error:  # a broken plugin must not break zoo
                plugins.failures.append(
                    Failure(ep.value, package, f"failed to load: {type(error).__name__}: {one_line(error)}")
                )
            else:
                plugins.packages[ep.value] = package
    _drop_unknown_hooks(plugins)
    for plugin in extra:
        plugins.manager.register(plugin, name=_name(plugin))
    plugins.manager.check_pending()  # an extra plugin with a misspelt hook is the caller's bug: raise
    return plugins


def _drop_unknown_hooks(plugins: Plugins) -> None:
    """Unregister, as failed, each installed plugin implementing a hook zoo does not have (a misspelt name)."""
    while True:
        try:
            plugins.manager.check_pending()
            return
        except pluggy.PluginValidationError as error:
            name = plugins.manager.get_name(error.plugin)
            plugins.manager.unregister(error.plugin)
            package = plugins.packages.pop(name, None)
            plugins.failures.append(Failure(name, package, f"implements an unknown hook: {one_line(error)}"))


def build_catalog(plugins: Plugins) -> Catalog:
    """Call every plugin's hooks one plugin at a time, so each name is stamped with its plugin."""
    catalog = Catalog(failures=list(plugins.failures))
    for kind, hook_name in KINDS.items():
        for impl in getattr(plugins.manager.hook, hook_name).get_hookimpls():
            package = plugins.packages.get(impl.plugin_name)

            def register(name, factory, *, _kind=kind, _plugin=impl.plugin_name, _package=package):
                catalog.add(Record(_kind, name, factory, _plugin, _package))

            try:
                impl.function(register=register)
            except Exception as error:  # a broken plugin must not break zoo
                catalog.failures.append(
                    Failure(impl.plugin_name, package, f"{hook_name} raised {type(error).__name__}: {one_line(error)}")
                )
    return catalog


@functools.cache
def default_catalog() -> Catalog:
    """The catalog of every installed plugin, built once per process."""
    return build_catalog(load_plugins())


def _name(plugin: object) -> str:
    """A readable plugin name: a module's dotted name, else the object's class."""
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return f"{type(plugin).__module__}.{type(plugin).__qualname__}"
