"""The built-in registry: every ``registry/*.toml`` file is a named model entry, and every
``registry/weights/NAME.npz`` the trained weights shipped for entry NAME."""

import functools
from importlib import resources

import zoo
from zoo.entries import read_entry_file


@zoo.hookimpl
def register_models(register):
    for item in sorted(resources.files("zoo_builtins.registry").iterdir(), key=lambda p: p.name):
        if item.name.endswith(".toml"):
            register(item.name.removesuffix(".toml"), functools.partial(read_entry_file, item, f"registry/{item.name}"))


@zoo.hookimpl
def register_weights(register):
    weights = resources.files("zoo_builtins.registry") / "weights"
    for item in sorted(weights.iterdir(), key=lambda p: p.name) if weights.is_dir() else ():
        if item.name.endswith(".npz"):
            register(item.name.removesuffix(".npz"), functools.partial(lambda path: path, item))
