"""The ``runs`` commands: list the run directories, show one."""

import json
from typing import Annotated

import typer

from zoo.cli.app import JsonOption, RunsDirOption, app, columns, command, echo, friendly, print_json
from zoo.runs import find_run, list_runs, read_metrics, read_run
from zoo.test_time import short_label

runs_app = typer.Typer(help="Runs on disk: every train, compare and sweep trial.", no_args_is_help=False)
app.add_typer(runs_app, name="runs")


def _percent(value) -> str:
    return "—" if value is None else f"{value:.2%}"


@runs_app.callback(invoke_without_command=True)
@friendly
def runs(ctx: typer.Context, runs_dir: RunsDirOption = None, as_json: JsonOption = False):
    """List runs, oldest first: id, status, seed, test and validation accuracy, training seconds."""
    if ctx.invoked_subcommand is not None:
        return
    listed = list_runs(runs_dir)
    if as_json:
        return print_json(listed)
    cells = []
    for info in listed:
        metrics = info.get("metrics") or {}
        seconds = metrics.get("train_seconds")
        cells.append(
            [
                info["id"],
                info["status"],
                str(info["seed"]),
                _percent(metrics.get("test_accuracy")) + _run_shifts(metrics),
                _percent(metrics.get("val_accuracy")),
                "—" if seconds is None else f"{seconds:.1f}",
                " ".join(f"{k}={v}" for k, v in (info.get("settings") or {}).items()),
            ]
        )
    echo(columns(["id", "status", "seed", "test", "val", "seconds", "settings"], cells))


@command("show", on=runs_app)
def show(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id, unique id prefix, or run directory.")],
    runs_dir: RunsDirOption = None,
    as_json: JsonOption = False,
):
    """One run: its record (status, seed, versions, config, metrics) and its per-epoch metrics."""
    path = find_run(run_id, runs_dir)
    info, metrics = read_run(path), read_metrics(path)
    if as_json:
        return print_json(info | {"path": str(path), "history": metrics})
    echo(f"{info['id']}  {info.get('status', '')}  ({path})")
    for key in ("name", "seed", "overrides", "settings", "zoo_version", "packages", "started", "finished", "error"):
        if info.get(key) not in (None, [], {}):
            echo(f"{key}: {info[key] if isinstance(info[key], (str, int)) else json.dumps(info[key])}")
    if info.get("metrics"):
        echo("metrics: " + json.dumps(info["metrics"]))
    if metrics:
        cells = [
            [
                f"{m['epoch']:.2f}",
                str(m["step"]),
                f"{m['loss']:.4f}",
                _percent(m["train_accuracy"]),
                "—" if m.get("val_loss") is None else f"{m['val_loss']:.4f}",
                _percent(m.get("val_accuracy")),
                f"{m['seconds']:.1f}",
            ]
            for m in metrics
        ]
        echo(columns(["epoch", "step", "loss", "train acc", "val loss", "val acc", "seconds"], cells))


def _run_shifts(metrics: dict) -> str:
    """A run's test figure measured with test-time shifts says so (runs from before the setting had none)."""
    return short_label(metrics.get("test_time_shifts", 0)) if metrics.get("test_accuracy") is not None else ""
