"""The Typer app every command registers on, its shared options, and output helpers.

Results go to stdout (one JSON document with ``--json``); progress and logs go to
stderr. A :class:`ZooError` becomes one ``error:`` line and exit code 1.
"""

import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from zoo.errors import ZooError
from zoo.loading import PLUGINS_ENV

app = typer.Typer(
    name="zoo",
    help="A model zoo of from-scratch NumPy neural networks: assemble by name, train, evaluate, compare.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else there.")]
SetOption = Annotated[
    Optional[list[str]],
    typer.Option("--set", help="Override a key of the entry, e.g. train.epochs=3 or layers.2.rate=0.3."),
]
SeedOption = Annotated[Optional[int], typer.Option(min=0, help="Random seed (default: the entry's train.seed).")]
RunsDirOption = Annotated[
    Optional[Path], typer.Option(help="Directory of run directories (default: $ZOO_RUNS, else ./runs).")
]
DataDirOption = Annotated[
    Optional[Path],
    typer.Option(help="Directory holding the dataset files, the only place then searched (default: $ZOO_DATA, ...)."),
]


@app.callback()
def options(
    plugin: Annotated[
        Optional[list[str]],
        typer.Option(
            "--plugin",
            help="Load this plugin module (dotted name or .py file) although it is not installed; repeatable. "
            "Adds to $ZOO_PLUGINS.",
        ),
    ] = None,
):
    """A model zoo of from-scratch NumPy neural networks: assemble by name, train, evaluate, compare."""
    if plugin:  # through the environment, so worker processes load the same plugins
        os.environ[PLUGINS_ENV] = ",".join(filter(None, [os.environ.get(PLUGINS_ENV, ""), *plugin]))


def friendly(function):
    """Make ``function``'s errors from user input print one line instead of a traceback.

    A :class:`ZooError` exits with its ``exit_code`` (1 unless it says otherwise), Ctrl-C with 130.
    """

    @functools.wraps(function)
    def wrapper(*a, **k):
        try:
            return function(*a, **k)
        except ZooError as error:
            message = "; ".join([str(error), *getattr(error, "__notes__", ())])
            err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
            raise typer.Exit(getattr(error, "exit_code", 1)) from None
        except KeyboardInterrupt:
            err.print("interrupted", highlight=False)
            raise typer.Exit(130) from None

    return wrapper


def command(*args, on: typer.Typer = app, **kwargs):
    """``on.command`` (default: the app's) for a :func:`friendly` function."""
    return lambda function: on.command(*args, **kwargs)(friendly(function))


def columns(header: list[str], rows: list[list[str]]) -> str:
    """Plain left-aligned columns, one line per row, nothing cut: tables that survive pipes and narrow terminals."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip() for line in [header, *rows]
    ]
    return "\n".join(lines)


def echo(text: str) -> None:
    sys.stdout.write(text + "\n")


def print_json(document) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
