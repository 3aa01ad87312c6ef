"""Loading plugins: one PluginManager, fed from the ``zoo`` entry-point group.

Built-in plugins are registered exactly like third-party ones: zoo's own
``pyproject.toml`` lists them under ``[project.entry-points.zoo]``. Three
environment variables adjust what loads: ``ZOO_PLUGINS`` (comma-separated modules
or ``.py`` files to load although not installed; ``zoo --plugin`` sets it),
``ZOO_DISABLE_PLUGINS`` (comma-separated plugin or distribution names to skip) and
``ZOO_REGISTRY_PATH`` (directories of entry ``.toml`` files, separated like ``PATH``).
"""

import functools
import importlib
import importlib.metadata
import importlib.util
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType

import attrs
import pluggy

from zoo import hookspecs
from zoo.catalog import KINDS, Catalog, Failure, Record
from zoo.entries import RegistryDirectory
from zoo.errors import did_you_mean, one_line

ENTRY_POINT_GROUP = "zoo"
PLUGINS_ENV = "ZOO_PLUGINS"
DISABLE_ENV = "ZOO_DISABLE_PLUGINS"
REGISTRY_PATH_ENV = "ZOO_REGISTRY_PATH"


@attrs.define
class Plugins:
    """The plugin manager, which package each plugin came from, and the plugins that failed or were disabled."""

    manager: pluggy.PluginManager
    packages: dict[str, str | None] = attrs.field(factory=dict)
    failures: list[Failure] = attrs.field(factory=list)
    disabled: list[tuple[str, str | None]] = attrs.field(factory=list)


def load_plugins(
    extra: Iterable[object] = (),
    *,
    entry_points: bool = True,
    modules: Iterable[str] = (),
    disabled: Iterable[str] = (),
    registry_path: Iterable[str] = (),
    extra_names: Iterable[str] | None = None,
) -> Plugins:
    """The installed plugins (unless ``entry_points`` is false), the plugin ``modules`` (dotted names or
    ``.py`` paths), a plugin per ``registry_path`` directory, and the ``extra`` plugin objects.

    ``disabled`` names plugins (``zoo_builtins.layers``) or distributions (``zoo-plugin-example``) to skip.
    ``extra_names`` names the ``extra`` plugins (default: module or class name).
    """
    plugins = Plugins(pluggy.PluginManager("zoo"))
    plugins.manager.add_hookspecs(hookspecs)
    disabled = set(disabled)
    sources: list[tuple[str, str | None, Callable[[], object]]] = []
    if entry_points:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            sources.append((ep.value, ep.dist.name if ep.dist else None, ep.load))
    sources += [(module, None, functools.partial(_import, module)) for module in modules]
    for name, package, load in sources:
        if name in disabled or package in disabled:
            plugins.disabled.append((name, package))
            continue
        try:
            plugins.manager.register(load(), name=name)
        except Exception as error:  # a broken plugin must not break zoo
            plugins.failures.append(
                Failure(name, package, f"failed to load: {type(error).__name__}: {one_line(error)}")
            )
        else:
            plugins.packages[name] = package
    for directory in registry_path:
        plugins.manager.register(RegistryDirectory(Path(directory)), name=f"{REGISTRY_PATH_ENV}:{directory}")
    _drop_unknown_hooks(plugins)
    extra = list(extra)
    for plugin, name in zip(extra, extra_names or map(_name, extra)):
        plugins.manager.register(plugin, name=name)
    unknown = _unknown_hooks(plugins.manager)
    if unknown:  # an extra plugin with a misspelt hook is the caller's bug: raise
        name, hooks = next(iter(unknown.items()))
        raise pluggy.PluginValidationError(plugins.manager.get_plugin(name), f"plugin {name!r} {_unknown(hooks)}")
    return plugins


def _drop_unknown_hooks(plugins: Plugins) -> None:
    """Unregister, as failed, each plugin loaded so far that implements a hook zoo does not have (a misspelt name)."""
    for name, hooks in _unknown_hooks(plugins.manager).items():
        plugins.manager.unregister(name=name)
        plugins.failures.append(Failure(name, plugins.packages.pop(name, None), _unknown(hooks)))


def _unknown_hooks(manager: pluggy.PluginManager) -> dict[str, list[str]]:
    """The names of the hooks without a spec that each registered plugin implements, by plugin name.

    What ``check_pending`` checks, but every such hook of every plugin, not only the first.
    """
    unknown: dict[str, list[str]] = {}
    for hook_name, caller in vars(manager.hook).items():
        if hook_name.startswith("_") or caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if not impl.optionalhook:
                unknown.setdefault(impl.plugin_name, []).append(hook_name)
    return unknown


def _unknown(hooks: list[str]) -> str:
    """``implements an unknown hook 'register_layer'; did you mean 'register_layers'?``, for each of ``hooks``."""
    known = KINDS.values()
    return "; ".join(
        f"implements an unknown hook {hook!r}" + (did_you_mean(hook, known) or f" (zoo's hooks: {', '.join(known)})")
        for hook in hooks
    )


def build_catalog(plugins: Plugins) -> Catalog:
    """Call every plugin's hooks one plugin at a time, so each name is stamped with its plugin."""
    catalog = Catalog(failures=list(plugins.failures), disabled=list(plugins.disabled))
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
    """The catalog of every installed plugin, adjusted by the environment variables above; built once per process."""
    return build_catalog(load_plugins(**environment()))


def environment() -> dict[str, list[str]]:
    """The arguments of :func:`load_plugins` given by the three environment variables above."""
    return {
        "modules": _split(os.environ.get(PLUGINS_ENV, ""), ","),
        "disabled": _split(os.environ.get(DISABLE_ENV, ""), ","),
        "registry_path": _split(os.environ.get(REGISTRY_PATH_ENV, ""), os.pathsep),
    }


def _split(value: str, separator: str) -> list[str]:
    return [part.strip() for part in value.split(separator) if part.strip()]


def _import(module: str) -> ModuleType:
    """Import a plugin module by dotted name (from sys.path or the current directory) or from a ``.py`` file."""
    if module.endswith(".py"):
        path = Path(module)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or not path.is_file():
            raise FileNotFoundError(f"no such file: {module}")
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        return loaded
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # `zoo --plugin my_plugin` finds ./my_plugin.py, as `python -m` would
    return importlib.import_module(module)


def _name(plugin: object) -> str:
    """A readable plugin name: a module's dotted name, else the object's class."""
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return f"{type(plugin).__module__}.{type(plugin).__qualname__}"
