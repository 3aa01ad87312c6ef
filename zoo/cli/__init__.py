"""The ``zoo`` command line: each command parses, makes one call into the engine, and renders."""

from zoo.cli import experiments, models, plugins, report, runs, scaffold, training  # noqa: F401  (registers commands)
from zoo.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
