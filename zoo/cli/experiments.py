"""``compare`` and ``sweep``: many trials on the same data and seeds, in parallel, each one a run on disk.

The work is :func:`zoo.comparison.compare` and :func:`zoo.sweeps.sweep`; this module parses, shows
progress on stderr, turns Ctrl-C into a stop request, and renders the result.
"""

import csv
import sys
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer

from zoo.cli.app import (
    DataDirOption,
    JsonOption,
    RunsDirOption,
    SetOption,
    columns,
    command,
    echo,
    err,
    print_json,
)
from zoo.cli.models import entry_names
from zoo.comparison import compare as compare_entries
from zoo.errors import ZooError
from zoo.executors import EXECUTORS
from zoo.interrupt import StopRequest
from zoo.results import Comparison
from zoo.sweeps import sweep as sweep_grid
from zoo.trial import Trial

RepeatsOption = Annotated[int, typer.Option(min=1, help="Seeds per contender: SEED, SEED+1, ...; mean ± std shown.")]
JobsOption = Annotated[
    Optional[int], typer.Option(min=1, help="Trials at once in local worker processes (default: the CPU count).")
]
ExecutorOption = Annotated[str, typer.Option(help=f"Where trials run: {' or '.join(EXECUTORS)}.")]
AddressOption = Annotated[
    Optional[str], typer.Option(help="Dask scheduler address for --executor dask, e.g. tcp://host:8786.")
]


@command()
def compare(
    names: Annotated[
        list[str], typer.Argument(help="Entry names or wildcards, e.g. 'seed-*'.", autocompletion=entry_names)
    ],
    overrides: SetOption = None,
    seed: Annotated[int, typer.Option(min=0, help="First seed, the same for every contender.")] = 0,
    repeats: RepeatsOption = 1,
    jobs: JobsOption = None,
    executor: ExecutorOption = "local",
    address: AddressOption = None,
    runs_dir: RunsDirOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV on stdout, one row per contender.")] = False,
    allow_mixed_data: Annotated[
        bool,
        typer.Option(
            "--allow-mixed-data",
            help="Compare contenders trained on different datasets or validation splits: warn and label each row.",
        ),
    ] = False,
):
    """Train several entries on the same split, batch order and seeds; tabulate mean ± std; * marks the best.

    Contenders must use the same dataset and validation split (data.dataset, data.validation,
    data.split), unless --allow-mixed-data is given.
    """
    with _stop_request() as stop:
        result = compare_entries(
            names,
            set=overrides or [],
            seed=seed,
            repeats=repeats,
            jobs=jobs,
            executor=executor,
            address=address,
            runs_dir=runs_dir,
            data_dir=data_dir,
            allow_mixed_data=allow_mixed_data,
            on_start=_announce("compare"),
            on_result=_progress,
            should_stop=stop,
            on_warning=lambda message: _stderr(f"warning: {message}"),
        )
    if as_json:
        print_json(result.to_dict())
    elif as_csv:
        _print_csv(result)
    else:
        echo(columns(*result.table()))
        echo("* best in its column" + (f"; mean ± std over {repeats} seeds" if repeats > 1 else ""))
        echo(f"runs: zoo report {result.group}")
    _stopped(result.stopped)


def _print_csv(result: Comparison) -> None:
    writer = csv.writer(sys.stdout)
    keys = ["name", "test_accuracy", "test_accuracy_std", "val_accuracy", "val_accuracy_std"]
    keys += ["train_seconds", "train_seconds_std", "params", "completed", "dataset", "validation", "split"]
    keys += ["test_time_shifts"]
    writer.writerow(keys)
    writer.writerows([[row[k] for k in keys] for row in result.rows])


@command()
def sweep(
    name: Annotated[str, typer.Argument(help="Entry name or .toml path.", autocompletion=entry_names)],
    grid: Annotated[
        list[str], typer.Option(help="KEY.PATH=V1,V2,... to sweep; repeat for a grid, e.g. layers.2.rate=0.0,0.1.")
    ],
    overrides: SetOption = None,
    seed: Annotated[Optional[int], typer.Option(min=0, help="First seed (default: the entry's).")] = None,
    repeats: RepeatsOption = 1,
    jobs: JobsOption = None,
    executor: ExecutorOption = "local",
    address: AddressOption = None,
    runs_dir: RunsDirOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
):
    """Train a grid of settings (K seeds each); select on validation accuracy; test only the selected setting.

    The test set plays no part in the choice: it is evaluated once, for the selected setting's models.
    """
    with _stop_request() as stop:
        result = sweep_grid(
            name,
            grid,
            set=overrides or [],
            seed=seed,
            repeats=repeats,
            jobs=jobs,
            executor=executor,
            address=address,
            runs_dir=runs_dir,
            data_dir=data_dir,
            on_start=_announce("sweep"),
            on_result=_progress,
            should_stop=stop,
        )
    if as_json:
        print_json(result.to_dict())
    else:
        echo(columns(*result.table()))
        if result.selected is not None:
            echo(result.conclusion())
        echo(f"runs: zoo report {result.group}")
    _stopped(result.stopped)
    if result.selected is None:
        raise ZooError("no setting completed all its repeats: nothing selected")


def _stop_request() -> StopRequest:
    """The first Ctrl-C asks the trials to stop after their current step; a second one stops them at once."""
    announce = "stopping: running trials stop after their current step (Ctrl-C again to stop at once)"
    return StopRequest(on_first=lambda: err.print(announce, highlight=False))


def _announce(kind: str) -> Callable[[str, list[Trial]], None]:
    return lambda group, trials: err.print(f"{kind} {group}: {len(trials)} trials", markup=False, highlight=False)


def _progress(trial: Trial, result: dict[str, Any]) -> None:
    what = trial.label()
    if result["status"] == "completed":
        val = "" if result["val_accuracy"] is None else f" val {result['val_accuracy']:.2%}"
        _stderr(f"done {what}:{val} ({result['train_seconds']:.1f} s)")
    else:
        _stderr(f"{result['status']} {what}: {result['error']}")


def _stderr(text: str) -> None:
    err.print(text, markup=False, highlight=False, soft_wrap=True)


def _stopped(stopped: bool) -> None:
    if stopped:
        error = ZooError("stopped by Ctrl-C: finished trials are kept; unfinished ones are marked interrupted")
        error.exit_code = 130
        raise error
