"""Built-in initialisers: the seeds' choices (uniform, scaled normal with explicit fans) plus He and Glorot.

Each factory returns ``init(shape, fan_in, fan_out, rng, dtype) -> ndarray``. Draws are made
in float64 and cast, so a float32 and a float64 run from one seed start from the same values.
"""

import math

import attrs
import numpy as np

import zoo
from zoo.options import boolean, number, optional_number


@attrs.frozen
class Constant:
    """Every value equal to ``value`` (``zeros`` is ``value = 0``)."""

    value: float = attrs.field(default=0.0, validator=number())

    def __call__(self, shape, fan_in, fan_out, rng, dtype):
        return np.full(shape, self.value, dtype=dtype)


@attrs.frozen
class Uniform:
    """U(low, high); seeds 001, 002 and 004 use U(-0.5, 0.5), seed 002 U(0, 1) for biases."""

    low: float = attrs.field(default=-0.05, validator=number())
    high: float = attrs.field(default=0.05, validator=number())

    def __attrs_post_init__(self):
        if not self.low < self.high:
            raise ValueError(f"uniform needs low < high, got low={self.low}, high={self.high}")

    def __call__(self, shape, fan_in, fan_out, rng, dtype):
        return rng.uniform(self.low, self.high, size=shape).astype(dtype)


@attrs.frozen
class Normal:
    """N(mean, std²); seed 003 uses std 0.01."""

    std: float = attrs.field(default=0.01, validator=number(gt=0))
    mean: float = attrs.field(default=0.0, validator=number())

    def __call__(self, shape, fan_in, fan_out, rng, dtype):
        return (self.mean + self.std * rng.standard_normal(shape)).astype(dtype)


@attrs.frozen
class ScaledNormal:
    """N(0, 1)·sqrt(1/fan): LeCun normal when ``fan`` is omitted (fan = fan_in).

    Seed 000 wrote its fans by hand, some of them odd (a 10x1 bias scaled by 1/10,
    another by 1/784): give ``fan`` to reproduce them.
    """

    fan: int | None = attrs.field(default=None, validator=optional_number(integer=True, gt=0))

    def __call__(self, shape, fan_in, fan_out, rng, dtype):
        fan = self.fan or fan_in
        return (rng.standard_normal(shape) * math.sqrt(1.0 / fan)).astype(dtype)


@attrs.frozen
class He:
    """He et al. 2015 for ReLU nets: std sqrt(2/fan_in) (normal) or limit sqrt(6/fan_in) (uniform)."""

    uniform: bool = attrs.field(default=False, validator=boolean)

    def __call__(self, shape, fan_in, fan_out, rng, dtype):
        if self.uniform:
            limit = math.sqrt(6.0 / fan_in)
            return rng.uniform(-limit, limit, size=shape).astype(dtype)
        return (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(dtype)


@attrs.frozen
class Glorot:
    """Glorot & Bengio 2010: variance 2/(fan_in + fan_out), normal or uniform."""

    uniform: bool = attrs.field(default=True, validator=boolean)

    def __call__(self, shape, fan_in, fan_out, rng, dtype):
        if self.uniform:
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            return rng.uniform(-limit, limit, size=shape).astype(dtype)
        return (rng.standard_normal(shape) * math.sqrt(2.0 / (fan_in + fan_out))).astype(dtype)


@zoo.hookimpl
def register_initialisers(register):
    register("zeros", lambda: Constant(0.0))
    register("constant", Constant)
    register("uniform", Uniform)
    register("normal", Normal)
    register("scaled_normal", ScaledNormal)
    register("he_normal", lambda: He(uniform=False))
    register("he_uniform", lambda: He(uniform=True))
    register("glorot_normal", lambda: Glorot(uniform=False))
    register("glorot_uniform", lambda: Glorot(uniform=True))
