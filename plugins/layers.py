"""Built-in layers: dense, ReLU, softmax and inverted dropout, on flat batches ``(N, features)``.

Every layer writes its outputs and gradients into buffers it reuses from step to step
(see ``zoo.layers.Buffers``), so no activation-sized array is allocated after the first step.
"""

import attrs
import numpy as np
from zoo_builtins.initialisers import Constant, He

import zoo
from zoo.layers import Buffers, Param
from zoo.options import number


@attrs.define(eq=False)
class Dense:
    """``y = x @ W + b`` with ``W`` of shape ``(in, units)``.

    ``weight_init`` and ``bias_init`` name initialisers (default He normal and zeros).
    """

    units: int = attrs.field(validator=number(integer=True, gt=0))
    weight_init: object = attrs.field(factory=lambda: He(uniform=False), validator=attrs.validators.is_callable())
    bias_init: object = attrs.field(factory=lambda: Constant(0.0), validator=attrs.validators.is_callable())
    _params: list = attrs.field(init=False, factory=list)
    _x: np.ndarray | None = attrs.field(init=False, default=None)
    _buffers: Buffers = attrs.field(init=False, factory=Buffers)

    def build(self, in_features, dtype, rng):
        shape = (in_features, self.units)
        W = np.ascontiguousarray(self.weight_init(shape, in_features, self.units, rng, dtype))
        b = np.ascontiguousarray(self.bias_init((self.units,), in_features, self.units, rng, dtype))
        self._params = [Param("W", W, np.zeros_like(W)), Param("b", b, np.zeros_like(b))]
        return self.units

    def params(self):
        return self._params

    def forward(self, x, training):
        W, b = self._params[0].value, self._params[1].value
        y = self._buffers.get("y", (x.shape[0], self.units), W.dtype)
        np.matmul(x, W, out=y)
        y += b
        self._x = x
        return y

    def backward(self, dy, need_dx=True):
        W, b = self._params
        if len(dy) == 1:  # an outer product: as a K=1 GEMM it is four times slower
            np.multiply(self._x.T, dy, out=W.grad)
        else:
            np.matmul(self._x.T, dy, out=W.grad)
        np.sum(dy, axis=0, out=b.grad)
        if not need_dx:
            return None
        dx = self._buffers.get("dx", (dy.shape[0], W.value.shape[0]), dy.dtype)
        return np.matmul(dy, W.value.T, out=dx)


@attrs.define(eq=False)
class ParameterFree:
    """Base of parameter-free layers that keep their input's width; ``_y`` is the last output."""

    _y: np.ndarray | None = attrs.field(init=False, default=None)
    _buffers: Buffers = attrs.field(init=False, factory=Buffers)

    def build(self, in_features, dtype, rng):
        return in_features

    def params(self):
        return []


@attrs.define(eq=False)
class ReLU(ParameterFree):
    """``max(x, 0)``."""

    def forward(self, x, training):
        y = self._buffers.get("y", x.shape, x.dtype)
        self._y = np.maximum(x, 0, out=y)
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        active = self._buffers.get("active", dy.shape, np.bool_)
        np.greater(self._y, 0, out=active)
        return np.multiply(dy, active, out=self._buffers.get("dx", dy.shape, dy.dtype))


@attrs.define(eq=False)
class Softmax(ParameterFree):
    """Row-wise softmax, for networks whose output should be probabilities.

    With the ``cross_entropy`` loss this is equivalent to, but slower and less stable
    than, a linear output with ``softmax_cross_entropy``.
    """

    def forward(self, x, training):
        y = self._buffers.get("y", x.shape, x.dtype)
        np.subtract(x, x.max(axis=1, keepdims=True), out=y)
        np.exp(y, out=y)
        y /= y.sum(axis=1, keepdims=True)
        self._y = y
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dx = self._buffers.get("dx", dy.shape, dy.dtype)
        np.multiply(dy, self._y, out=dx)
        np.subtract(dy, dx.sum(axis=1, keepdims=True), out=dx)
        dx *= self._y
        return dx


@attrs.define(eq=False)
class Dropout(ParameterFree):
    """Inverted dropout: in training, zero each unit with probability ``rate`` and scale the rest by 1/(1-rate).

    At evaluation it is the identity, so no rescaling is needed at test time.
    """

    rate: float = attrs.field(validator=number(ge=0, lt=1))
    _rng: np.random.Generator | None = attrs.field(init=False, default=None)
    _mask: np.ndarray | None = attrs.field(init=False, default=None)

    def build(self, in_features, dtype, rng):
        self._rng = rng  # the layer's own stream: masks never disturb other random draws
        return in_features

    def forward(self, x, training):
        if not training or self.rate == 0.0:
            self._mask = None
            return x
        mask = self._buffers.get("mask", x.shape, x.dtype)
        self._rng.random(out=mask, dtype=x.dtype)
        np.greater_equal(mask, x.dtype.type(self.rate), out=mask, casting="unsafe")
        mask *= x.dtype.type(1.0 / (1.0 - self.rate))
        self._mask = mask
        return np.multiply(x, mask, out=self._buffers.get("y", x.shape, x.dtype))

    def backward(self, dy, need_dx=True):
        if not need_dx or self._mask is None:
            return dy if need_dx else None
        return np.multiply(dy, self._mask, out=self._buffers.get("dx", dy.shape, dy.dtype))


@zoo.hookimpl
def register_layers(register):
    register("dense", Dense)
    register("relu", ReLU)
    register("softmax", Softmax)
    register("dropout", Dropout)
