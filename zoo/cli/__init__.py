"""The ``zoo`` command line: each command parses, makes one call into the engine, and renders."""

from zoo.cli import (  # noqa: F401  (registers commands)
    experiments,
    export,
    models,
    plugins,
    predict,
    report,
    reproduce,
    runs,
    scaffold,
    training,
)
from zoo.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
