"""``check_schedule``: finite multipliers that depend on the step alone, or on the step and a state that resumes."""

import math
import numbers
from typing import Any

import numpy as np

from zoo.catalog import Catalog
from zoo.schedule import MONITORED
from zoo.testing.core import Subject, global_random_state_untouched

RUNS = ((1, 1), (7, 70), (469, 4690))
"""``(steps_per_epoch, total_steps)`` the checks set the schedule up with: one step, a short run, MNIST at batch 128."""
METRICS = [0.9, 0.8, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]
"""A validation loss (and 1 minus an accuracy) that improves, then stalls, then improves and stalls again."""


def check_schedule(name: str, options: dict[str, Any] | None = None, *, catalog: Catalog | None = None) -> None:
    """Check the learning-rate schedule ``name`` made with ``options``; raise ConformanceError on the first failure.

    - ``setup(steps_per_epoch, total_steps)`` and ``multiplier(step)`` exist; for a run of one step,
      of 70 and of 4690 steps, every multiplier is a finite real number >= 0 and not all are 0.
    - ``multiplier`` depends on the step alone: asked backwards, or twice, it gives the same values
      (what makes resuming exact; chained schedules go wrong there, as PyTorch's warm-up did).
    - A schedule that watches a metric has ``monitor`` set to one of ``val_loss``/``val_accuracy``,
      ``observe(metrics)`` and ``state()``/``load_state()``: a fresh schedule given the state after
      any of a run's log points continues exactly as the original does.
    - numpy's global random state is untouched.
    """
    subject = Subject.resolve("schedule", name, options, catalog)
    with global_random_state_untouched(subject, "the random state check"):
        for method in ("setup", "multiplier"):
            if not callable(getattr(subject.make(), method, None)):
                raise subject.fail("the interface check", f"it has no {method}() method")
        for per_epoch, total in RUNS:
            _check_curve(subject, per_epoch, total)
        if getattr(subject.make(), "monitor", None) is not None:
            _check_resumes(subject)


def _curve(schedule, steps) -> list:
    return [schedule.multiplier(step) for step in steps]


def _check_curve(subject: Subject, per_epoch: int, total: int) -> None:
    check = f"the multiplier check ({total} steps, {per_epoch} per epoch)"
    schedule = subject.make()
    schedule.setup(per_epoch, total)
    values = _curve(schedule, range(total))
    for step, value in enumerate(values):
        real = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if not real or not math.isfinite(value) or value < 0:
            raise subject.fail(check, f"multiplier({step}) returned {value!r}, not a finite number >= 0")
    if not any(values):
        raise subject.fail(check, "every multiplier is 0: training would never move")
    if _curve(schedule, reversed(range(total)))[::-1] != values or _curve(schedule, range(total)) != values:
        raise subject.fail(
            check,
            "multiplier(step) gave other values when asked again or in another order: "
            "it must depend on the step (and observed metrics) alone",
        )


def _check_resumes(subject: Subject) -> None:
    check = "the resume check"
    schedule = subject.make()
    monitor = schedule.monitor
    if monitor not in MONITORED:
        raise subject.fail("the interface check", f"monitor is {monitor!r}, not one of {', '.join(MONITORED)}")
    for method in ("observe", "state", "load_state"):
        if not callable(getattr(schedule, method, None)):
            raise subject.fail("the interface check", f"it watches {monitor} but has no {method}() method")
    metrics = [{"val_loss": v, "val_accuracy": 1 - v, "loss": v, "train_accuracy": 1 - v} for v in METRICS]
    for split in range(1, len(metrics)):
        whole, resumed = subject.make(), subject.make()
        for s in (whole, resumed):
            s.setup(7, 70)
        for point in metrics[:split]:
            whole.observe(point)
        resumed.load_state({k: np.array(v, copy=True) for k, v in whole.state().items()})
        for i, point in enumerate(metrics[split:], start=split):
            whole.observe(point)
            resumed.observe(point)
            if whole.multiplier(10 * i) != resumed.multiplier(10 * i):
                raise subject.fail(
                    check,
                    f"after load_state() of the state at log point {split}, log point {i} "
                    f"gives {resumed.multiplier(10 * i)!r} instead of {whole.multiplier(10 * i)!r}",
                )
