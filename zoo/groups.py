"""A group of trials run together, a compare or a sweep, recorded on disk as ``<runs>/<group id>/group.json``.

The group file says ``running`` while trials run, then ``completed`` or ``interrupted`` with
what the group found; a KeyboardInterrupt (the CLI's second Ctrl-C) still leaves it ``interrupted``.
"""

import multiprocessing
import os
import statistics
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from zoo.errors import ConfigError, ZooError, one_line
from zoo.executors import Outcome, prepared
from zoo.runs import abandon_running, runs_root, write_group
from zoo.trial import Trial, TrialContext

OnResult = Callable[[Trial, dict[str, Any]], None]
"""Called in the parent process as each trial ends, with its result dict (``status`` completed, interrupted
or failed; ``run``, the accuracies, ``train_seconds``, ``params`` when completed, ``error`` otherwise)."""


def check_counts(seed: int | None, repeats: int, jobs: int | None) -> None:
    """Refuse a negative seed, fewer than one repeat or fewer than one job, before anything is loaded."""
    for what, value, least in (("seed", seed, 0), ("repeats", repeats, 1), ("jobs", jobs, 1)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
            raise ConfigError(f"{what} must be an integer >= {least}, got {value!r}")


def trial_options(runs_dir: str | os.PathLike | None, data_dir: str | os.PathLike | None) -> TrialContext:
    """Absolute places for the workers: the runs root (``runs_dir``, else ``$ZOO_RUNS``, else ./runs), the data."""
    return TrialContext(runs_root(runs_dir).resolve(), Path(data_dir).resolve() if data_dir else None)


def run_group(
    trials: list[Trial],
    kind: str,
    group: str,
    options: TrialContext,
    *,
    jobs: int | None,
    executor: str,
    address: str | None,
    on_start: Callable[[str, list[Trial]], None] | None,
    on_result: OnResult | None,
    should_stop: Callable[[], bool] | None,
) -> Outcome:
    """Run ``trials`` as the group ``group`` of ``kind`` (compare or sweep), its group file saying ``running``."""
    with prepared(trials, options, jobs=jobs, executor=executor, address=address) as run_trials:
        write_group(options.runs_dir, group, {"kind": kind, "status": "running", "runs": []})
        if on_start:
            on_start(group, trials)
        report = on_result or (lambda trial, result: None)
        try:
            return run_trials(should_stop or (lambda: False), lambda index, result: report(trials[index], result))
        except KeyboardInterrupt:  # the trials were killed: no run may stay "running"
            _abandon(options, group, kind, "stopped at once by Ctrl-C")
            raise
        except ZooError as error:  # a result that cannot be recorded: the group must not stay "running"
            _abandon(options, group, kind, one_line(error))
            raise
        except BrokenProcessPool:
            _abandon(options, group, kind, "its worker process died")
            raise ZooError(
                "a worker process died before its trial ended (killed, or out of memory; or a script that calls "
                'zoo.compare or zoo.sweep outside `if __name__ == "__main__":`, which worker processes need)'
            ) from None


def refuse_in_a_spawned_worker() -> None:
    """Refuse to start trials in a worker process that is still starting: it is re-running the top level of a
    script without a main guard, and would otherwise start a group of its own in every worker."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):  # multiprocessing's own test for this
        raise ZooError('zoo.compare and zoo.sweep in a script must be called under `if __name__ == "__main__":`')


def _abandon(options: TrialContext, group: str, kind: str, reason: str) -> None:
    abandon_running(options.runs_dir, group, reason)
    write_group(options.runs_dir, group, {"kind": kind, "status": "interrupted", "runs": []})


def finish_group(options: TrialContext, group: str, kind: str, outcome: Outcome, stopped: bool, found: dict) -> None:
    """Record the group's runs and what it ``found``; ``interrupted`` if it was ``stopped``."""
    runs = [r["run"] for r in outcome.results if r and "run" in r]
    status = "interrupted" if stopped else "completed"
    write_group(options.runs_dir, group, {"kind": kind, "status": status, "runs": runs, **found})


def mean_std(key: str, values: list[float]) -> dict[str, float | None]:
    """``{key: mean, key_std: sample standard deviation}`` (0 for one value, both None for none)."""
    if not values:
        return {key: None, f"{key}_std": None}
    return {key: statistics.fmean(values), f"{key}_std": statistics.stdev(values) if len(values) > 1 else 0.0}
