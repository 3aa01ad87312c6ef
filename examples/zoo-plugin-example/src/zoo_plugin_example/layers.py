"""A leaky ReLU layer on batches of any shape, writing into buffers it reuses from step to step."""

import attrs
import numpy as np

import zoo
from zoo.layers import Buffers
from zoo.options import number


@attrs.define(eq=False)
class LeakyReLU:
    """``x`` where ``x > 0``, else ``slope·x`` (Maas et al. 2013); ``slope = 0`` is ReLU.

    Element-wise, so any input ``(N, *shape)`` gives an output of the same shape.
    """

    zoo_contract = 2  # build() gets and returns per-sample shapes, such as (784,) or (6, 28, 28)
    slope: float = attrs.field(default=0.01, validator=number(ge=0, lt=1))
    _y: np.ndarray | None = attrs.field(init=False, default=None)
    _buffers: Buffers = attrs.field(init=False, factory=Buffers)

    def build(self, in_shape, dtype, rng):
        return tuple(in_shape)

    def params(self):
        return []

    def multiply_adds(self):
        return 0  # optional, for zoo show: element-wise layers count none, as zoo's relu and dropout do

    def forward(self, x, training):
        y = self._buffers.get("y", x.shape, x.dtype)
        np.multiply(x, x.dtype.type(self.slope), out=y)
        self._y = np.maximum(x, y, out=y)  # for 0 <= slope < 1, max(x, slope·x) is the leaky ReLU
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        active = self._buffers.get("active", dy.shape, np.bool_)
        np.greater(self._y, 0, out=active)  # y > 0 exactly where x > 0
        slope = self._buffers.get("slope", dy.shape, dy.dtype)  # the local derivative: 1 or slope
        np.multiply(active, dy.dtype.type(1 - self.slope), out=slope)
        slope += dy.dtype.type(self.slope)
        return np.multiply(dy, slope, out=self._buffers.get("dx", dy.shape, dy.dtype))


@zoo.hookimpl
def register_layers(register):
    register("leaky_relu", LeakyReLU)
