"""``compare`` and ``sweep``: many trials on the same data and seeds, in parallel, each one a run on disk."""

import csv
import statistics
import sys
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
from zoo.config import DataSpec
from zoo.errors import ConfigError, UnknownNameError, ZooError
from zoo.executors import EXECUTORS, Outcome, check_executor, run_trials
from zoo.interrupt import StopRequest
from zoo.plugins import default_catalog
from zoo.registry import load_entry, matching
from zoo.runs import abandon_running, new_id, runs_root, write_group
from zoo.sweep import parse_grid, select, settings_grid, summarise, sweep_trials
from zoo.trial import Options, Trial, check_fits, evaluate_on_test

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
    catalog = default_catalog()
    selected = _expand(names, catalog.names("model"))
    entries = [load_entry(name, catalog, overrides or []) for name in selected]
    for entry in entries:
        check_fits(entry, catalog)  # every mistake reported before anything trains
    data = {name: entry.data for name, entry in zip(selected, entries)}
    mixed = _check_same_data(data, allow_mixed_data)
    group = new_id("compare")
    trials = [Trial(name, tuple(overrides or ()), seed + r, group=group) for name in selected for r in range(repeats)]
    outcome = _run(trials, group, "compare", jobs, executor, address, runs_dir, data_dir)
    rows = []
    for i, name in enumerate(selected):
        done = [r for r in outcome.results[i * repeats : (i + 1) * repeats] if r and r["status"] == "completed"]
        rows.append({"name": name, "completed": len(done), "runs": [r["run"] for r in done]})
        rows[-1] |= {"dataset": data[name].dataset, "validation": data[name].validation, "split": data[name].split}
        for key in ("test_accuracy", "val_accuracy", "train_seconds"):
            rows[-1] |= _mean_std(key, [r[key] for r in done if r[key] is not None])
        rows[-1]["params"] = done[0]["params"] if done else None
    _finish_group(runs_dir, group, "compare", outcome, {"results": rows})
    if as_json:
        print_json({"group": group, "seeds": list(range(seed, seed + repeats)), "results": rows})
    elif as_csv:
        writer = csv.writer(sys.stdout)
        keys = ["name", "test_accuracy", "test_accuracy_std", "val_accuracy", "val_accuracy_std"]
        keys += ["train_seconds", "train_seconds_std", "params", "completed", "dataset", "validation", "split"]
        writer.writerow(keys)
        writer.writerows([[row[k] for k in keys] for row in rows])
    else:
        _print_compare(rows, repeats, mixed)
        echo(f"runs: zoo report {group}")
    _stopped(outcome)


def _data_label(spec: DataSpec) -> str:
    """``mnist, validation 5000 (last)``: the data a contender trains and is validated on."""
    if not spec.validation:  # then every training sample trains, and `split` only reorders them
        return f"{spec.dataset}, no validation"
    return f"{spec.dataset}, validation {spec.validation} ({spec.split})"


def _check_same_data(data: dict[str, DataSpec], allow: bool) -> bool:
    """Whether the contenders use different data; that is an error unless ``allow``, then a warning."""
    users: dict[str, list[str]] = {}
    for name, spec in data.items():
        users.setdefault(_data_label(spec), []).append(name)
    if len(users) < 2:
        return False
    uses = "; ".join(
        f"{', '.join(names)} {'use' if len(names) > 1 else 'uses'} {label}" for label, names in users.items()
    )
    if not allow:
        raise ZooError(
            f"contenders are trained on different data, so their numbers are not comparable: {uses}; "
            "make them agree with --set (e.g. --set data.validation=5000 --set data.split=last), "
            "or pass --allow-mixed-data to compare them anyway"
        )
    err.print(
        f"warning: contenders are trained on different data: {uses}", markup=False, highlight=False, soft_wrap=True
    )
    return True


def _print_compare(rows: list[dict[str, Any]], repeats: int, mixed: bool) -> None:
    best = {
        key: pick([r[key] for r in rows if r[key] is not None], default=None)
        for key, pick in (("test_accuracy", max), ("val_accuracy", max), ("train_seconds", min))
    }

    def cell(row, key, percent=True):
        if row[key] is None:
            return "—"
        scale, unit = (100, " %") if percent else (1, " s")
        text = f"{row[key] * scale:.2f}" + (f" ± {row[key + '_std'] * scale:.2f}" if repeats > 1 else "") + unit
        return text + (" *" if row[key] == best[key] else "")

    cells = [
        [
            r["name"],
            cell(r, "test_accuracy"),
            cell(r, "val_accuracy"),
            "—" if r["params"] is None else f"{r['params']:,}",
            cell(r, "train_seconds", percent=False),
            *([_data_label(DataSpec(r["dataset"], r["validation"], r["split"]))] if mixed else []),
        ]
        for r in rows
    ]
    header = ["name", "test accuracy", "validation accuracy", "params", "train seconds", *(["data"] if mixed else [])]
    echo(columns(header, cells))
    echo("* best in its column" + (f"; mean ± std over {repeats} seeds" if repeats > 1 else ""))


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
    catalog = default_catalog()
    entry = load_entry(name, catalog, overrides or [])
    if entry.data.validation == 0:
        raise ConfigError(f"{entry.source}: data.validation: a sweep selects on validation data; set it, e.g. 5000")
    axes = parse_grid(grid)
    swept_data = [key for keys, _ in axes for key in keys.split("+") if key.split(".")[0] == "data"]
    if swept_data:
        raise ConfigError(
            f"--grid {swept_data[0]}: a sweep selects on validation accuracy, which compares settings only "
            "on the same data; sweep the model, not data.*"
        )
    settings = settings_grid(axes)
    group = new_id(f"sweep-{entry.name}")
    trials = sweep_trials(name, list(overrides or ()), settings, repeats, entry.seed_for(seed), group)
    for trial in trials[::repeats]:
        check_fits(load_entry(name, catalog, list(trial.overrides)), catalog)  # fails now, not mid-sweep
    outcome = _run(trials, group, "sweep", jobs, executor, address, runs_dir, data_dir)
    rows = summarise(settings, repeats, outcome.results)
    chosen = None if outcome.stopped else select(rows, repeats)
    test = {}
    if chosen is not None:
        accuracies = [evaluate_on_test(runs_root(runs_dir) / run, data_dir) for run in rows[chosen]["runs"]]
        test = _mean_std("test_accuracy", accuracies)
    selected = rows[chosen]["settings"] if chosen is not None else None
    _finish_group(runs_dir, group, "sweep", outcome, {"trials": rows, "selected": selected, **test})
    if as_json:
        trials_json = [{k: row[k] for k in ("settings", "val_accuracy", "val_accuracy_std", "seconds")} for row in rows]
        print_json({"group": group, "trials": trials_json, "selected": selected, **test})
    else:
        _print_sweep(rows, chosen, repeats, test)
        echo(f"runs: zoo report {group}")
    _stopped(outcome)
    if chosen is None:
        raise ZooError("no setting completed all its repeats: nothing selected")


def _print_sweep(rows, chosen, repeats, test) -> None:
    keys = list(rows[0]["settings"])
    cells = []
    for i, row in enumerate(rows):
        val = "—" if row["val_accuracy"] is None else f"{row['val_accuracy']:.2%}"
        if row["val_accuracy"] is not None and repeats > 1:
            val += f" ± {row['val_accuracy_std']:.2%}"
        seconds = "—" if row["seconds"] is None else f"{row['seconds']:.1f}"
        cells.append([*map(str, row["settings"].values()), val, seconds, "selected" if i == chosen else ""])
    echo(columns([*keys, "validation accuracy", "train seconds", ""], cells))
    if chosen is not None:
        spread = f" ± {test['test_accuracy_std']:.2%}" if repeats > 1 else ""
        setting = ", ".join(f"{k}={v}" for k, v in rows[chosen]["settings"].items())
        echo(f"selected {setting} on validation; its test accuracy: {test['test_accuracy']:.2%}{spread}")


def _run(trials, group, kind, jobs, executor, address, runs_dir, data_dir) -> Outcome:
    """Run the trials, with progress on stderr; a second Ctrl-C marks the killed trials interrupted."""
    check_executor(executor, address)
    root = runs_root(runs_dir).resolve()
    options = Options(root, data_dir.resolve() if data_dir else None)
    write_group(root, group, {"kind": kind, "status": "running", "runs": []})
    err.print(f"{kind} {group}: {len(trials)} trials", markup=False, highlight=False)

    def on_result(index: int, result: dict[str, Any]) -> None:
        trial = trials[index]
        what = trial.label()
        if result["status"] == "completed":
            val = "" if result["val_accuracy"] is None else f" val {result['val_accuracy']:.2%}"
            text = f"done {what}:{val} ({result['train_seconds']:.1f} s)"
        else:
            text = f"{result['status']} {what}: {result['error']}"
        err.print(text, markup=False, highlight=False, soft_wrap=True)

    announce = "stopping: running trials stop after their current step (Ctrl-C again to stop at once)"
    with StopRequest(on_first=lambda: err.print(announce, highlight=False)) as stop:
        try:
            return run_trials(
                trials, options, jobs=jobs, executor=executor, address=address, should_stop=stop, on_result=on_result
            )
        except KeyboardInterrupt:
            abandon_running(root, group, "stopped at once by a second Ctrl-C")
            write_group(root, group, {"kind": kind, "status": "interrupted", "runs": []})
            raise


def _finish_group(runs_dir, group, kind, outcome: Outcome, document: dict[str, Any]) -> None:
    runs = [r["run"] for r in outcome.results if r and "run" in r]
    status = "interrupted" if outcome.stopped else "completed"
    write_group(runs_root(runs_dir).resolve(), group, {"kind": kind, "status": status, "runs": runs, **document})


def _stopped(outcome: Outcome) -> None:
    if outcome.stopped:
        error = ZooError("stopped by Ctrl-C: finished trials are kept; unfinished ones are marked interrupted")
        error.exit_code = 130
        raise error


def _mean_std(key: str, values: list[float]) -> dict[str, float | None]:
    if not values:
        return {key: None, f"{key}_std": None}
    return {key: statistics.fmean(values), f"{key}_std": statistics.stdev(values) if len(values) > 1 else 0.0}


def _expand(patterns: list[str], names: list[str]) -> list[str]:
    """Entry names matching each pattern, in order; a pattern matching nothing is an unknown name."""
    selected = []
    for pattern in patterns:
        matches = matching(names, pattern) or ([pattern] if pattern.endswith(".toml") else [])
        if not matches:
            raise UnknownNameError("model", pattern, names)
        selected.extend(m for m in matches if m not in selected)
    return selected
