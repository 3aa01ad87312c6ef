"""The package's registry entries: every ``registry/*.toml`` file shipped as package data is a named entry."""

import functools
from importlib import resources

import zoo
from zoo.entries import read_entry_file


@zoo.hookimpl
def register_models(register):
    for item in sorted(resources.files(__package__).joinpath("registry").iterdir(), key=lambda p: p.name):
        if item.name.endswith(".toml"):
            source = f"{__package__}/registry/{item.name}"  # named in error messages
            register(item.name.removesuffix(".toml"), functools.partial(read_entry_file, item, source))
