"""Sweeps: a grid of settings, K seeds each, the best chosen on validation data only, then tested.

Repeat ``r`` of every setting uses seed ``seed + r``: all settings see the same splits,
initial weights and batch orders (a paired comparison, fairer than independent draws),
and a trial's seed never depends on the order trials ran in.
"""

import itertools
import os
import statistics
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from zoo.config import parse_value
from zoo.entries import load_entry
from zoo.errors import ConfigError
from zoo.groups import (
    OnResult,
    check_counts,
    finish_group,
    mean_std,
    refuse_in_a_spawned_worker,
    run_group,
    trial_options,
)
from zoo.loading import default_catalog
from zoo.overrides import Overrides, as_overrides, overrides_for, toml_value
from zoo.results import SweepResult
from zoo.runs import new_id
from zoo.trial import Trial, TrialContext, check_fits, evaluate_on_test


def sweep(
    name: str | os.PathLike,
    grid: Mapping[str, Iterable[Any]] | Iterable[str],
    *,
    set: Overrides = None,
    seed: int | None = None,
    repeats: int = 1,
    jobs: int | None = None,
    executor: str = "local",
    address: str | None = None,
    runs_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    on_start: Callable[[str, list[Trial]], None] | None = None,
    on_result: OnResult | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SweepResult:
    """Train entry ``name`` (with overrides ``set``) for every combination of ``grid``, ``repeats`` seeds each
    (``seed``, ``seed + 1``, ...; default the entry's), select the setting with the best mean validation
    accuracy, and only then evaluate that setting's models on the test set.

    ``grid``: ``{"optimizer.lr": [0.001, 0.01], "layers.2.rate+layers.5.rate": [0.1, 0.2]}`` (``+`` moves
    keys together) or ``--grid`` strings such as ``["optimizer.lr=0.001,0.01"]``. Trials run in ``jobs``
    local worker processes, or on a Dask scheduler at ``address`` with ``executor="dask"``; each is a run
    under ``runs_dir``, and the sweep a group of them. ``on_start(group, trials)`` is called before they run,
    ``on_result(trial, result)`` as each ends; ``should_stop()`` turning true stops the sweep (``stopped``).
    """
    refuse_in_a_spawned_worker()
    check_counts(seed, repeats, jobs)
    catalog = default_catalog()
    name, overrides = os.fspath(name), as_overrides(set)
    entry = load_entry(name, catalog, overrides)
    if entry.data.validation == 0:
        raise ConfigError(f"{entry.source}: data.validation: a sweep selects on validation data; set it, e.g. 5000")
    axes = grid_axes(grid)
    if not axes:
        raise ConfigError("a sweep needs at least one key to sweep in its grid")
    grid_name = "grid" if isinstance(grid, Mapping) else "--grid"
    swept_data = _swept(axes, "data")
    if swept_data:
        raise ConfigError(
            f"{grid_name} {swept_data[0]}: a sweep selects on validation "
            "accuracy, which compares settings only on the same data; sweep the model, not data.*"
        )
    swept_test_time = _swept(axes, "test_time")
    if swept_test_time:
        raise ConfigError(
            f"{grid_name} {swept_test_time[0]}: test-time shifts change "
            "no training and validation sees each image alone, so a sweep cannot choose them; "
            "compare them on validation (benchmarks/test_time_shifts.py in zoo's repository does)"
        )
    settings = settings_grid(axes)
    group = new_id(f"sweep-{entry.name}")
    trials = sweep_trials(name, overrides, settings, repeats, entry.seed_for(seed), group)
    for trial in trials[::repeats]:
        check_fits(load_entry(name, catalog, list(trial.overrides)), catalog)  # fails now, not mid-sweep
    options = trial_options(runs_dir, data_dir)
    outcome = run_group(
        trials,
        "sweep",
        group,
        options,
        jobs=jobs,
        executor=executor,
        address=address,
        on_start=on_start,
        on_result=on_result,
        should_stop=should_stop,
    )
    rows = summarise(settings, repeats, outcome.results)
    chosen = None if outcome.stopped else select(rows, repeats)
    accuracies = None if chosen is None else _test(rows[chosen]["runs"], options, should_stop or (lambda: False))
    stopped = outcome.stopped or (chosen is not None and accuracies is None)
    if stopped:
        chosen = None
    test = {} if chosen is None else mean_std("test_accuracy", accuracies)
    selected = None if chosen is None else rows[chosen]["settings"]
    finish_group(options, group, "sweep", outcome, stopped, {"trials": rows, "selected": selected, **test})
    return SweepResult(group, rows, repeats, chosen, **test, stopped=stopped, test_time_shifts=entry.test_time.shifts)


def _test(runs: list[str], options: TrialContext, should_stop: Callable[[], bool]) -> list[float] | None:
    """The test accuracy of each of the selected setting's runs, or None if asked to stop first."""
    accuracies = []
    for run in runs:
        if should_stop():
            return None
        accuracies.append(evaluate_on_test(options.runs_dir / run, options.data_dir))
    return accuracies


def parse_grid(axes: list[str]) -> list[tuple[str, list[Any]]]:
    """``["layers.2.rate=0.0,0.1"]`` -> ``[("layers.2.rate", [0.0, 0.1])]``; values are read as TOML.

    Keys joined by ``+`` move together: ``layers.2.rate+layers.5.rate=0.1,0.2`` sets both to each value.
    """
    grid = []
    for axis in axes:
        key, sep, values = axis.partition("=")
        key = key.strip()
        texts = [text for text in values.split(",") if text.strip()]
        if not sep or not key or not texts:
            raise ConfigError(f"--grid {axis!r}: expected KEY.PATH=V1,V2,..., e.g. layers.2.rate=0.0,0.1,0.2")
        if key in (k for k, _ in grid):
            raise ConfigError(f"--grid {axis!r}: {key} is already swept by another --grid")
        grid.append((key, [parse_value(text) for text in texts]))
    return grid


def settings_grid(grid: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    """Every combination, in grid order (the first axis varies slowest)."""
    keys = [key for key, _ in grid]
    return [dict(zip(keys, values)) for values in itertools.product(*(values for _, values in grid))]


def grid_axes(grid: Mapping[str, Iterable[Any]] | Iterable[str]) -> list[tuple[str, list[Any]]]:
    """The axes of ``{"layers.2.rate": [0.0, 0.1]}`` or of ``--grid`` strings ``["layers.2.rate=0.0,0.1"]``."""
    if isinstance(grid, str):
        grid = [grid]
    if not isinstance(grid, Mapping):
        return parse_grid(list(grid))
    axes = []
    for key, values in grid.items():
        values = [] if isinstance(values, (str, bytes)) or not isinstance(values, Iterable) else list(values)
        if not values:
            raise ConfigError(f"grid[{key!r}]: expected a non-empty list of values, e.g. [0.0, 0.1]")
        axes.append((str(key), [parse_value(toml_value(value)) for value in values]))  # plain values, as from --grid
    return axes


def sweep_trials(
    entry: str, overrides: list[str], settings: list[dict[str, Any]], repeats: int, seed: int, group: str
) -> list[Trial]:
    """One trial per setting and repeat; the test set is left alone until a setting is selected."""
    return [
        Trial(
            entry,
            tuple(overrides) + overrides_for(setting),
            seed + r,
            setting,
            group,
            test=False,
        )
        for setting in settings
        for r in range(repeats)
    ]


def summarise(settings: list[dict[str, Any]], repeats: int, results: list[dict | None]) -> list[dict[str, Any]]:
    """Per setting: validation accuracy mean and standard deviation over its completed repeats, mean seconds."""
    rows = []
    for i, setting in enumerate(settings):
        done = [r for r in results[i * repeats : (i + 1) * repeats] if r and r["status"] == "completed"]
        vals = [r["val_accuracy"] for r in done if r["val_accuracy"] is not None]
        rows.append(
            {
                "settings": setting,
                "val_accuracy": statistics.fmean(vals) if vals else None,
                "val_accuracy_std": statistics.stdev(vals) if len(vals) > 1 else 0.0 if vals else None,
                "seconds": statistics.fmean(r["train_seconds"] for r in done) if done else None,
                "completed": len(done),
                "runs": [r["run"] for r in done],
            }
        )
    return rows


def select(rows: list[dict[str, Any]], repeats: int) -> int | None:
    """Index of the setting with the best mean validation accuracy over all its repeats (first on ties)."""
    complete = [i for i, row in enumerate(rows) if row["completed"] == repeats and row["val_accuracy"] is not None]
    return max(complete, key=lambda i: rows[i]["val_accuracy"], default=None)


def _swept(axes, section: str) -> list[str]:
    """The grid's keys inside the entry's ``section`` (``"data"`` for ``data.validation``)."""
    return [key for keys, _ in axes for key in keys.split("+") if key.split(".")[0] == section]
