"""The ``new-plugin`` command: write a plugin package to start from."""

from pathlib import Path
from typing import Annotated

import typer

from zoo import scaffold
from zoo.cli.app import command, echo


@command("new-plugin")
def new_plugin(
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME", help="Lowercase letters, digits and hyphens; the prefix of every name the plugin registers."
        ),
    ],
    parent: Annotated[
        Path, typer.Option("--dir", metavar="PARENT", help="Where to create the zoo-plugin-NAME directory.")
    ] = Path("."),
):
    """Write zoo-plugin-NAME/: a plugin package with one example of each kind and tests that run the conformance kit."""
    target = scaffold.new_plugin(name, parent)
    echo(f"wrote {target}")
    echo(f"next: cd {target} && pip install -e '.[test]' && pytest && zoo train {name}-mlp")
