"""The client's plugins on Dask workers: workers load what ``--plugin`` / ``ZOO_PLUGINS`` and
``ZOO_DISABLE_PLUGINS`` say in the client, whatever their own environment says.

A plugin given as a ``.py`` file travels as its text and runs on each worker from memory (nothing
is written there). One given as a module name is imported by that name on each worker, which
must have it installed: zoo cannot tell which files make up an importable module or package.
:func:`check_workers` refuses in one line, before any trial starts, a cluster with a worker that
cannot load a plugin. Entry-point plugins must be installed on the workers, as zoo itself is.
Plugins registered in a session (``zoo.register_plugin``) never reach workers.
"""

import functools
import importlib.util
from pathlib import Path
from types import ModuleType

import attrs

from zoo.catalog import Catalog
from zoo.errors import PluginError, ZooError, one_line
from zoo.loading import build_catalog, environment, load_plugins


@attrs.frozen
class PluginSetup:
    """``files``: (name as given, text) of each ``.py`` plugin; ``modules``: plugins imported by name; ``disabled``."""

    files: tuple[tuple[str, str], ...] = ()
    modules: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()


def client_plugins(catalog: Catalog) -> PluginSetup:
    """The plugins of this process's environment that loaded here (``catalog``), as workers are to load them."""
    env = environment()
    skipped = set(env["disabled"]) | {failure.plugin for failure in catalog.failures}
    files, modules = [], []
    for name in env["modules"]:
        if name in skipped:
            continue
        if name.endswith(".py"):
            try:
                files.append((name, Path(name).read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as error:
                raise PluginError(
                    f"plugin {name}: cannot read it to send to the Dask workers: {one_line(error)}"
                ) from None
        else:
            modules.append(name)
    return PluginSetup(tuple(files), tuple(modules), tuple(env["disabled"]))


@functools.cache
def worker_catalog(setup: PluginSetup) -> Catalog:
    """The catalog a worker trains with: its installed plugins and ``setup``'s; built once per worker process."""
    loaded = []
    for name, text in setup.files:
        try:
            loaded.append(_from_text(name, text))
        except Exception as error:  # a plugin's own failure, which must not take the worker down
            raise PluginError(
                f"plugin {name} failed to load on a Dask worker: {type(error).__name__}: {one_line(error)}"
            ) from None
    plugins = load_plugins(
        loaded, modules=setup.modules, disabled=setup.disabled, extra_names=[n for n, _ in setup.files]
    )
    for failure in plugins.failures:
        if failure.plugin in setup.modules:
            raise PluginError(
                f"plugin {failure.plugin} (--plugin / ZOO_PLUGINS) cannot be loaded on a Dask worker "
                f"({failure.reason}): install it on the workers, or give --plugin its .py file, which zoo sends to them"
            )
    return build_catalog(plugins)


def check_workers(client, setup: PluginSetup) -> None:
    """Refuse, before any trial is submitted, a worker of ``client``'s cluster that cannot load ``setup``."""
    for address, problem in client.run(_problem, setup).items():
        if problem:
            raise PluginError(f"{problem} (worker {address})")


def _problem(setup: PluginSetup) -> str | None:
    """Run on each worker: why it cannot load ``setup``, or None."""
    try:
        worker_catalog(setup)
    except ZooError as error:
        return str(error)
    return None


def _from_text(name: str, text: str) -> ModuleType:
    """The module ``name`` (a ``.py`` path) made from its ``text``, as :func:`zoo.loading.load_plugins` makes it
    from the file."""
    spec = importlib.util.spec_from_loader(Path(name).stem, loader=None, origin=name)
    module = importlib.util.module_from_spec(spec)
    module.__file__ = name
    exec(compile(text, name, "exec"), module.__dict__)
    return module
