"""Built-in learning-rate schedules: constant, step, exponential, cosine (with warm-up), one-cycle, reduce-on-plateau.

Each gives the multiplier on every parameter's learning rate at a training step, so per-layer
rates keep their ratios. All but ``reduce_on_plateau`` are pure functions of the step, which
is what makes a resumed run exact: nothing is chained from the previous step's value.
"""

import math

import attrs
import numpy as np

import zoo
from zoo.options import choice, number


@attrs.define(eq=False)
class _Steps:
    """The run's length, given by ``setup``; the base of every schedule."""

    _per_epoch: int = attrs.field(init=False, default=1)
    _total: int = attrs.field(init=False, default=1)

    def setup(self, steps_per_epoch, total_steps):
        self._per_epoch, self._total = steps_per_epoch, total_steps


@attrs.define(eq=False)
class Constant(_Steps):
    """The optimizer's learning rate throughout."""

    def multiplier(self, step):
        return 1.0


@attrs.define(eq=False)
class Step(_Steps):
    """Multiply the learning rate by ``factor`` every ``every`` epochs: ``factor ** (epoch // every)``."""

    every: int = attrs.field(default=10, validator=number(integer=True, ge=1))
    factor: float = attrs.field(default=0.1, validator=number(gt=0))

    def multiplier(self, step):
        return self.factor ** (step // self._per_epoch // self.every)


@attrs.define(eq=False)
class Exponential(_Steps):
    """Multiply the learning rate by ``factor`` once per epoch: ``factor ** epoch`` (the optimizers' ``decay``)."""

    factor: float = attrs.field(default=0.9, validator=number(gt=0))

    def multiplier(self, step):
        return self.factor ** (step // self._per_epoch)


@attrs.define(eq=False)
class Cosine(_Steps):
    """Linear warm-up over ``warmup_epochs``, then half a cosine from 1 down to ``floor`` at the last step.

    Warm-up step ``s`` (0-based) has factor ``(s + 1) / W``; after it, with ``t`` running from 0 at
    the first step after warm-up to 1 at the last, ``floor + (1 - floor) · (1 + cos πt) / 2``.
    """

    floor: float = attrs.field(default=0.0, validator=number(ge=0, le=1))
    warmup_epochs: float = attrs.field(default=0.0, validator=number(ge=0))

    def multiplier(self, step):
        warmup = min(round(self.warmup_epochs * self._per_epoch), self._total - 1)
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, self._total - 1 - warmup)
        return self.floor + (1 - self.floor) * (1 + math.cos(math.pi * t)) / 2


@attrs.define(eq=False)
class OneCycle(_Steps):
    """Smith's one-cycle policy, as PyTorch's ``OneCycleLR`` (cosine): from ``start`` up to 1, then down to ``end``.

    The rise takes the first ``rise`` fraction of the steps; both halves are half cosines.
    The optimizer's ``lr`` is the peak.
    """

    rise: float = attrs.field(default=0.3, validator=number(gt=0, lt=1))
    start: float = attrs.field(default=0.04, validator=number(gt=0, le=1))
    end: float = attrs.field(default=4e-6, validator=number(gt=0, le=1))

    def multiplier(self, step):
        peak = self.rise * self._total - 1
        if step <= peak:
            return _cosine_between(self.start, 1.0, step / peak if peak > 0 else 1.0)
        return _cosine_between(1.0, self.end, (step - peak) / max(1e-12, self._total - 1 - peak))


def _cosine_between(first: float, last: float, t: float) -> float:
    """Half a cosine from ``first`` at t = 0 to ``last`` at t = 1."""
    return last + (first - last) * (1 + math.cos(math.pi * min(t, 1.0))) / 2


@attrs.define(eq=False)
class ReduceOnPlateau(_Steps):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for ``patience`` log points.

    Improvement means better than the best so far by more than ``min_delta``. After a reduction,
    ``cooldown`` log points pass before waiting starts again; the factor never goes below ``floor``.
    As Keras's ``ReduceLROnPlateau``, counting log points (epochs, unless ``train.log_every`` says otherwise).
    """

    monitor: str = attrs.field(default="val_loss", validator=choice("val_loss", "val_accuracy"))
    factor: float = attrs.field(default=0.1, validator=number(gt=0, lt=1))
    patience: int = attrs.field(default=10, validator=number(integer=True, ge=0))
    cooldown: int = attrs.field(default=0, validator=number(integer=True, ge=0))
    floor: float = attrs.field(default=0.0, validator=number(ge=0, le=1))
    min_delta: float = attrs.field(default=1e-4, validator=number(ge=0))
    _current: float = attrs.field(init=False, default=1.0)
    _best: float = attrs.field(init=False, default=math.inf)
    _wait: int = attrs.field(init=False, default=0)
    _cooling: int = attrs.field(init=False, default=0)

    def multiplier(self, step):
        return self._current

    def observe(self, metrics):
        """Called at each log point with its metrics; the same steps as Keras's ``ReduceLROnPlateau``."""
        value = metrics[self.monitor] * (-1 if self.monitor == "val_accuracy" else 1)  # lower is better
        if self._cooling:
            self._cooling -= 1
            self._wait = 0
        if value < self._best - self.min_delta:
            self._best, self._wait = value, 0
        elif not self._cooling:
            self._wait += 1
            if self._wait >= self.patience and self._current > self.floor:
                self._current = max(self.floor, self._current * self.factor)
                self._wait, self._cooling = 0, self.cooldown

    def state(self):
        values = {"current": self._current, "best": self._best, "wait": self._wait, "cooling": self._cooling}
        return {key: np.array(value) for key, value in values.items()}

    def load_state(self, state):
        self._current, self._best = float(state["current"]), float(state["best"])
        self._wait, self._cooling = int(state["wait"]), int(state["cooling"])


@zoo.hookimpl
def register_schedules(register):
    register("constant", Constant)
    register("step", Step)
    register("exponential", Exponential)
    register("cosine", Cosine)
    register("one_cycle", OneCycle)
    register("reduce_on_plateau", ReduceOnPlateau)
