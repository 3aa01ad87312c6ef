"""Plugins registered in the running Python session (a notebook's own classes), used as if they were installed.

``zoo.register_plugin(obj)`` adds ``obj`` (an object or module with ``@zoo.hookimpl`` methods) to the
catalog every ``zoo.create``/``zoo.train``/``zoo.load`` call uses. Registering a plugin of the same
name again (re-running a notebook cell) replaces it instead of clashing with the old one.
"""

import functools
from types import ModuleType

import pluggy

from zoo.catalog import Catalog
from zoo.errors import PluginError, one_line
from zoo.loading import build_catalog, default_catalog, environment, load_plugins

_plugins: dict[str, object] = {}


def register_plugin(plugin: object) -> str:
    """Use ``plugin`` in this session; its name (module or class), which :func:`unregister_plugin` takes.

    Its hooks run now, so a misspelt hook or a hook that raises is a PluginError here, not later.
    """
    name = plugin_name(plugin)
    previous = _plugins.get(name)
    _plugins[name] = plugin
    _session_catalog.cache_clear()
    try:
        failures = [f for f in catalog().failures if f.plugin == name]
    except pluggy.PluginValidationError as error:
        failures = [one_line(error)]
    if failures:
        _restore(name, previous)
        reason = failures[0] if isinstance(failures[0], str) else failures[0].reason
        raise PluginError(f"plugin {name}: {reason}")
    return name


def unregister_plugin(name: str) -> None:
    """Stop using the session plugin ``name``."""
    if name not in _plugins:
        registered = ", ".join(_plugins) or "none"
        raise PluginError(f"no plugin {name!r} is registered in this session; registered: {registered}")
    _restore(name, None)


def session_plugins() -> list[str]:
    """The names of the plugins registered in this session."""
    return list(_plugins)


def catalog() -> Catalog:
    """The default catalog, plus this session's plugins when there are any."""
    return _session_catalog() if _plugins else default_catalog()


def plugin_name(plugin: object) -> str:
    """A module's dotted name, else the object's class (``__main__.MyLayers`` in a notebook)."""
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    kind = plugin if isinstance(plugin, type) else type(plugin)
    return f"{kind.__module__}.{kind.__qualname__}"


@functools.cache
def _session_catalog() -> Catalog:
    return build_catalog(load_plugins(list(_plugins.values()), **environment(), extra_names=list(_plugins)))


def _restore(name: str, previous: object | None) -> None:
    if previous is None:
        _plugins.pop(name, None)
    else:
        _plugins[name] = previous
    _session_catalog.cache_clear()
