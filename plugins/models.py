"""The built-in registry: every ``registry/*.toml`` file is a named model entry."""

import functools
from importlib import resources

import zoo
from zoo.registry import read_entry_file


@zoo.hookimpl
def register_models(register):
    for item in sorted(resources.files("zoo_builtins.registry").iterdir(), key=lambda p: p.name):
        if item.name.endswith(".toml"):
            register(item.name.removesuffix(".toml"), functools.partial(read_entry_file, item, f"registry/{item.name}"))
