"""The ``reproduce`` command: retrain an entry with shipped weights and check its recorded metrics."""

from typing import Annotated

import typer

from zoo.cli.app import DataDirOption, JsonOption, RunsDirOption, columns, command, echo, err, print_json
from zoo.cli.models import entry_names
from zoo.interrupt import StopRequest
from zoo.progress import training_progress
from zoo.reproduce import TOLERANCE, reproduce


@command("reproduce")
def reproduce_command(
    name: Annotated[
        str, typer.Argument(help="An entry with shipped weights (zoo list shows them).", autocompletion=entry_names)
    ],
    tolerance: Annotated[
        float, typer.Option(min=0, help="Largest accuracy difference that agrees (0.005 = half a point).")
    ] = TOLERANCE,
    runs_dir: RunsDirOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
):
    """Retrain an entry from its recipe and seed; print recorded against reproduced metrics and a verdict.

    Exits with status 1 when they differ by more than --tolerance.
    """
    announce = lambda: err.print("stopping after this step (Ctrl-C again to stop at once)", highlight=False)  # noqa: E731
    with StopRequest(on_first=announce) as stop, training_progress(name, err) as (on_log, on_step):
        outcome = reproduce(
            name,
            tolerance=tolerance,
            runs_dir=runs_dir,
            data_dir=data_dir,
            on_log=on_log,
            on_step=on_step,
            should_stop=stop,
        )
    document = outcome.to_dict()
    if as_json:
        print_json(document)
    else:
        rows = []
        for key, label in (("test_accuracy", "test accuracy"), ("val_accuracy", "validation accuracy")):
            recorded, reproduced = document["recorded"][key], document["reproduced"][key]
            if recorded is None and reproduced is None:
                continue
            difference = document["differences"].get(key)
            rows.append(
                [
                    label,
                    _percent(recorded),
                    _percent(reproduced),
                    "—" if difference is None else f"{difference * 100:+.2f} points",
                ]
            )
        seconds = document["recorded"]["train_seconds"], document["reproduced"]["train_seconds"]
        rows.append(["train seconds", *(f"{s:.1f}" if s is not None else "—" for s in seconds), ""])
        echo(columns(["", "recorded", "reproduced", "difference"], rows))
        verdict = "agrees" if outcome.agrees else "DIFFERS"
        seed = document["recorded"]["seed"]
        echo(f"{name}: {verdict} within {tolerance * 100:.2f} points (seed {seed}, run {outcome.run})")
    if not outcome.agrees:
        raise typer.Exit(1)


def _percent(value) -> str:
    return "—" if value is None else f"{value:.2%}"
