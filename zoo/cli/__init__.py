"""The ``zoo`` command line: each command parses, makes one call into the engine, and renders."""

from zoo.cli import models, plugins  # noqa: F401  (importing a module registers its commands)
from zoo.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
