"""The ``report`` command: plots and an HTML page for runs on disk."""

from pathlib import Path
from typing import Annotated

import typer

from zoo import report as reporting
from zoo.cli.app import DataDirOption, RunsDirOption, command, echo
from zoo.loading import default_catalog
from zoo.runs import expand_runs


@command()
def report(
    runs: Annotated[
        list[str],
        typer.Argument(help="Run ids, unique id prefixes, group ids of a compare or sweep, or run directories."),
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory to write the PNGs and index.html into.")] = Path(
        "report"
    ),
    runs_dir: RunsDirOption = None,
    data_dir: DataDirOption = None,
):
    """Learning curves, a confusion matrix and the most-confused test images of each run, on one HTML page."""
    reporting.require_matplotlib()
    paths = expand_runs(runs, runs_dir)
    written = reporting.write_report(paths, out, default_catalog(), data_dir)
    echo(f"wrote {out / 'index.html'} ({len(paths)} run{'s' if len(paths) != 1 else ''}, {len(written)} files)")
