"""zoo: a plugin-based model zoo of from-scratch NumPy neural networks.

The Python API (docs/python.md)::

    import zoo
    zoo.list_entries("seed-*")
    model = zoo.train("lenet-5", set={"train.epochs": 1}, seed=0)
    model.predict(images); model.save("m.npz"); zoo.load("m.npz")
    zoo.create("lenet-5", pretrained=True)

Its names load on first use, so ``import zoo`` (which every plugin does for ``zoo.hookimpl``) stays light.
"""

import importlib

import pluggy

__version__ = "0.3.0"

hookimpl = pluggy.HookimplMarker("zoo")
"""Marker for plugin hook implementations: ``@zoo.hookimpl def register_layers(register): ...``"""

_API = {
    "list_entries": "zoo.api",
    "create": "zoo.api",
    "train": "zoo.api",
    "load": "zoo.api",
    "load_dataset": "zoo.api",
    "compare": "zoo.comparison",
    "sweep": "zoo.sweeps",
    "register_plugin": "zoo.session",
    "unregister_plugin": "zoo.session",
    "Model": "zoo.model",
    "Evaluation": "zoo.model",
    "ZooError": "zoo.errors",
}
"""Public name -> the module defining it."""

__all__ = ["__version__", "hookimpl", *_API]


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'zoo' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
