"""What a learning-rate schedule is: the interface schedule plugins implement, and how training drives one."""

import math
import numbers
from typing import Protocol

from zoo.errors import ConfigError, PluginError

MONITORED = ("val_loss", "val_accuracy")
"""The metrics a schedule (or early stopping) may watch: measured on the validation split at each log point."""


class Schedule(Protocol):
    """A multiplier on every parameter's learning rate at each training step (per-layer rates keep their ratios).

    ``setup(steps_per_epoch, total_steps)`` is called once before training (and again on resume);
    ``multiplier(step)`` before each step (0-based) gives the factor for that step. Optional:
    a ``monitor`` attribute naming one of :data:`MONITORED` and ``observe(metrics)``, called at each
    log point with that point's metrics (``val_loss``, ``val_accuracy``, ``loss``, ``train_accuracy``);
    ``state()``/``load_state()`` for whatever ``observe`` accumulates, saved in checkpoints.
    """

    def setup(self, steps_per_epoch: int, total_steps: int) -> None: ...

    def multiplier(self, step: int) -> float: ...


def check_schedule(schedule: object, where: str, *, has_validation: bool, optimizer: object, optimizer_where: str):
    """Refuse a schedule zoo cannot drive: a missing method, a monitor without validation, no ``scale_lr``."""
    for method in ("setup", "multiplier"):
        if not callable(getattr(schedule, method, None)):
            raise ConfigError(f"{where}: this schedule has no {method}() method (see zoo.schedule.Schedule)")
    monitor = getattr(schedule, "monitor", None)
    if monitor is not None and not has_validation:
        raise ConfigError(f"{where}: watches {monitor}, but these splits have no validation images")
    if monitor is not None and not callable(getattr(schedule, "observe", None)):
        raise ConfigError(f"{where}: the schedule watches {monitor} but has no observe() method")
    if not callable(getattr(optimizer, "scale_lr", None)):
        raise ConfigError(
            f"{optimizer_where}: this optimizer takes no learning-rate schedule: it has no scale_lr(factor) method "
            "(see zoo.optim.Optimizer)"
        )


def checked_multiplier(schedule: Schedule, step: int, where: str) -> float:
    """``schedule.multiplier(step)``, refused in one line unless it is a finite real number >= 0."""
    value = schedule.multiplier(step)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise PluginError(f"{where}: the schedule's multiplier({step}) returned {value!r}, not a finite number >= 0")
    return value


NOMINAL_STEPS_PER_EPOCH = 1000
"""For ``zoo show``, which reads no data: values at epoch starts depend on the real number only through rounding."""


def learning_rates(schedule: object, epochs: int, lr: float | None, decay: float, points: int = 5) -> list[dict]:
    """The learning rate at the start of a few epochs (the first, the last and between) and at the last step.

    ``lr`` and ``decay`` are the optimizer's (``lr`` None: multipliers are given instead). A
    schedule that watches a metric is shown as it starts, before it has observed anything.
    """
    per_epoch = NOMINAL_STEPS_PER_EPOCH
    total = epochs * per_epoch
    schedule.setup(per_epoch, total)
    starts = sorted({round(i * (epochs - 1) / (points - 1)) for i in range(points)})
    steps = [(f"epoch {epoch + 1}", epoch * per_epoch) for epoch in starts] + [("last step", total - 1)]
    base = 1.0 if lr is None else lr
    return [
        {"when": when, "lr": base * decay ** (step // per_epoch) * schedule.multiplier(step)} for when, step in steps
    ]
