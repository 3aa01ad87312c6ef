"""Comparing entries fairly: each trained on the same data with the same seeds, means and spreads per entry.

Repeat ``r`` of every contender trains with seed ``seed + r``: every contender sees the same
validation split and batch order, so differences come from the entries, not from the draw.
"""

import os
import warnings
from collections.abc import Callable, Iterable

from zoo.config import DataSpec
from zoo.entries import load_entry, matching
from zoo.errors import UnknownNameError, ZooError
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
from zoo.overrides import Overrides, as_overrides
from zoo.results import Comparison, data_label
from zoo.runs import new_id
from zoo.trial import Trial, check_fits


class MixedDataError(ZooError):
    """Contenders trained on different datasets or validation splits, whose numbers are not comparable."""


def compare(
    names: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    set: Overrides = None,
    seed: int = 0,
    repeats: int = 1,
    jobs: int | None = None,
    executor: str = "local",
    address: str | None = None,
    runs_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    allow_mixed_data: bool = False,
    on_start: Callable[[str, list[Trial]], None] | None = None,
    on_result: OnResult | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> Comparison:
    """Train every entry ``names`` gives (names, wildcards such as ``"tuned-*"``, ``.toml`` paths), with
    overrides ``set``, on seeds ``seed`` to ``seed + repeats - 1``, and tabulate their accuracies and seconds.

    Contenders must use the same data (``data.dataset``, ``data.validation``, ``data.split``), else
    :class:`MixedDataError`, unless ``allow_mixed_data``: then ``on_warning(message)`` is called (default:
    a Python warning) and the result has ``mixed_data``. Contenders with different ``[test_time]`` shifts
    are compared with a warning too, and the table labels their test accuracies. Trials run in ``jobs``
    local worker processes, or on a Dask scheduler at ``address`` with ``executor="dask"``; each is a run
    under ``runs_dir``, and the comparison a group of them. ``on_start(group, trials)`` is called before
    they run, ``on_result(trial, result)`` as each ends; ``should_stop()`` turning true stops the comparison
    (the result is ``stopped``).
    """
    refuse_in_a_spawned_worker()
    check_counts(seed, repeats, jobs)
    catalog = default_catalog()
    patterns = [names] if isinstance(names, (str, os.PathLike)) else list(names)
    selected = _expand([os.fspath(pattern) for pattern in patterns], catalog.names("model"))
    overrides = as_overrides(set)
    entries = [load_entry(name, catalog, overrides) for name in selected]
    for entry in entries:
        check_fits(entry, catalog)  # every mistake reported before anything trains
    data = {name: entry.data for name, entry in zip(selected, entries)}
    mixed = _check_same_data(data, allow_mixed_data, on_warning or _warn)
    shifts = {name: entry.test_time.shifts for name, entry in zip(selected, entries)}
    _check_same_shifts(shifts, on_warning or _warn)
    group = new_id("compare")
    trials = [Trial(name, tuple(overrides), seed + r, group=group) for name in selected for r in range(repeats)]
    options = trial_options(runs_dir, data_dir)
    outcome = run_group(
        trials,
        "compare",
        group,
        options,
        jobs=jobs,
        executor=executor,
        address=address,
        on_start=on_start,
        on_result=on_result,
        should_stop=should_stop,
    )
    rows = []
    for i, name in enumerate(selected):
        done = [r for r in outcome.results[i * repeats : (i + 1) * repeats] if r and r["status"] == "completed"]
        row = {"name": name, "completed": len(done), "runs": [r["run"] for r in done]}
        row |= {"dataset": data[name].dataset, "validation": data[name].validation, "split": data[name].split}
        row |= {"test_time_shifts": shifts[name]}
        for key in ("test_accuracy", "val_accuracy", "train_seconds"):
            row |= mean_std(key, [r[key] for r in done if r[key] is not None])
        rows.append(row | {"params": done[0]["params"] if done else None})
    finish_group(options, group, "compare", outcome, outcome.stopped, {"results": rows})
    return Comparison(group, range(seed, seed + repeats), rows, mixed, outcome.stopped)


def _expand(patterns: list[str], names: list[str]) -> list[str]:
    """Entry names matching each pattern, in order; a pattern matching nothing is an unknown name."""
    selected = []
    for pattern in patterns:
        matches = matching(names, pattern) or ([pattern] if pattern.endswith(".toml") else [])
        if not matches:
            raise UnknownNameError("model", pattern, names)
        selected.extend(m for m in matches if m not in selected)
    return selected


def _check_same_data(data: dict[str, DataSpec], allow: bool, on_warning: Callable[[str], None]) -> bool:
    """Whether the contenders use different data; that is an error unless ``allow``, then a warning."""
    users: dict[str, list[str]] = {}
    for name, spec in data.items():
        users.setdefault(data_label(spec), []).append(name)
    if len(users) < 2:
        return False
    uses = "; ".join(
        f"{', '.join(names)} {'use' if len(names) > 1 else 'uses'} {label}" for label, names in users.items()
    )
    if not allow:
        raise MixedDataError(
            f"contenders are trained on different data, so their numbers are not comparable: {uses}; "
            "make them agree with --set (e.g. --set data.validation=5000 --set data.split=last), "
            "or pass --allow-mixed-data to compare them anyway"
        )
    on_warning(f"contenders are trained on different data: {uses}")
    return True


def _check_same_shifts(shifts: dict[str, int], on_warning: Callable[[str], None]) -> None:
    """Warn, naming who predicts with which test-time shifts, when their test figures are not measured alike."""
    if len({*shifts.values()}) < 2:
        return
    uses = "; ".join(f"{name} {n or 'no'} test-time shift{'s' if n != 1 else ''}" for name, n in shifts.items())
    on_warning(
        f"contenders predict differently ({uses}): their test accuracies are not measured alike, "
        "their validation accuracies are (each image alone)"
    )


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=4)  # the caller of compare(), through _check_same_data or _check_same_shifts
