"""Built-in element-wise and dense layers: dense, flatten, ReLU, tanh, sigmoid, softmax and inverted dropout.

Every layer writes its outputs and gradients into buffers it reuses from step to step
(see ``zoo.layers.Buffers``), so no activation-sized array is allocated after the first step.
Shapes are per sample, channels first (layer contract 2, see ``zoo.layers``). Options are
validated when a layer is made, not on later assignment (``on_setattr=NO_OP``), so the
attributes a layer sets at every step cost a plain assignment, not attrs' hooks (0.5 µs each).
"""

import math

import attrs
import numpy as np
from scipy.linalg.blas import get_blas_funcs
from zoo_builtins.initialisers import Constant, He

import zoo
from zoo.gemm import add_product
from zoo.layers import Buffers, Param, descend, flat
from zoo.options import number


@attrs.frozen
class _SampleBlas:
    """A dtype's BLAS routines for one-sample steps, looked up once at build (54 ns a lookup, 3-4 a layer a step).

    On one sample, dense uses scipy's BLAS throughout (``gemv`` forward and for ``dx``, ``ger``
    and ``axpy`` for the update): NumPy and SciPy each bundle an OpenBLAS, each with its own pool
    of threads, and a step that used both would keep both pools' threads spinning for the same
    cores. Arguments are positional: f2py's keyword parsing costs 0.4 µs a call (1.2 against
    0.8 µs for a 100×200 layer's ``gemv``). The vectors are one-row arrays ``(1, n)`` as they
    come, which f2py takes as its rank-1 arguments without a copy, saving a row view each.
    """

    dtype: np.dtype
    gemv: object
    ger: object
    axpy: object

    @classmethod
    def of(cls, dtype) -> "_SampleBlas":
        return cls(np.dtype(dtype), *(get_blas_funcs(name, dtype=dtype) for name in ("gemv", "ger", "axpy")))

    def __reduce__(self):  # f2py's routines do not pickle: look them up again, so layers copy and pickle
        return _SampleBlas.of, (self.dtype,)

    def matvec(self, a, x, out, transpose=False):
        """``out = a @ x`` (``a.T @ x`` if ``transpose``) for a Fortran-ordered ``a``."""
        # (alpha, a, x, beta, y, offx, incx, offy, incy, trans, overwrite_y)
        result = self.gemv(1.0, a, x, 0.0, out, 0, 1, 0, 1, int(transpose), 1)
        if result is not out:  # scipy had to copy after all
            out[...] = result.reshape(out.shape)


_GEMM_UPDATE_MIN = 32768
"""Dense adds a batch's update into weights of at least this many values by one gemm (zoo.gemm).

Below it, the call's fixed cost through ctypes (3-4 µs) is about what the gemm saves: on this
2-core machine (2026-12-07) 784×32 weights at batch 8 took 6.6 µs that way against 5.1 µs for
the gradient, scaling and addition; 200×200 at batch 32, 19 against 32 µs; 784×512 at batch 128,
225 against 278 µs.
"""


_SPAN_MIN = 131072
"""From this many weights on, dense's one-sample steps leave out the rows of ``W`` that multiply the zeros at the
two ends of the input (see :meth:`Dense._span`).

Finding the ends costs 1.3 µs, and an MNIST image's nonzero pixels span 69 % of it (rounded out). 20000 online
steps on this 2-core machine (2026-12-07), with the span and without: 784-256-10 0.72-0.79 s against 0.79-0.86 s;
784-100-200-200-10, whose 784×100 weights are under this floor, 0.955-0.96 against 0.94-0.99 s: no gain.
"""

_SPAN_ALIGN = 16
"""The ends are rounded out to multiples of this many rows: OpenBLAS's ``gemv`` kernels sum 4 or 8 columns at a
time, so over the same blocks the skipped rows add exact zeros and the result has the same bits as over all rows
(while the weights are finite: over all rows an infinite weight times a zero input gives NaN, here it is left out)."""


@attrs.define(eq=False, on_setattr=attrs.setters.NO_OP)
class Dense:
    """``y = flatten(x) @ W + b`` with ``W`` of shape ``(prod(in_shape), units)``.

    Input of more than one axis (the output of a convolution, or images) is flattened in
    C order first, as a ``flatten`` layer would: a view, never a copy, for contiguous input.
    ``weight_init`` and ``bias_init`` name initialisers (default He normal and zeros).
    """

    zoo_contract = 2
    units: int = attrs.field(validator=number(integer=True, gt=0))
    weight_init: object = attrs.field(factory=lambda: He(uniform=False), validator=attrs.validators.is_callable())
    bias_init: object = attrs.field(factory=lambda: Constant(0.0), validator=attrs.validators.is_callable())
    _params: list = attrs.field(init=False, factory=list)
    _x: np.ndarray | None = attrs.field(init=False, default=None)
    _in_shape: tuple = attrs.field(init=False, default=())
    _sample_blas: _SampleBlas | None = attrs.field(init=False, default=None)
    _rows: slice | None = attrs.field(init=False, default=None)
    """The rows of ``W`` the last one-sample forward used: :meth:`_span`'s, or None for all of them."""
    _buffers: Buffers = attrs.field(init=False, factory=Buffers)

    def build(self, in_shape, dtype, rng):
        in_features = math.prod(in_shape)
        shape = (in_features, self.units)
        W = np.ascontiguousarray(self.weight_init(shape, in_features, self.units, rng, dtype))
        b = np.ascontiguousarray(self.bias_init((self.units,), in_features, self.units, rng, dtype))
        self._params = [Param("W", W, np.zeros_like(W)), Param("b", b, np.zeros_like(b))]
        self._in_shape = tuple(in_shape)
        self._sample_blas = _SampleBlas.of(W.dtype)
        return (self.units,)

    def params(self):
        return self._params

    def multiply_adds(self):
        return self._params[0].value.size

    def forward(self, x, training):
        W, b = self._params[0].value, self._params[1].value
        x = x if x.ndim == 2 else flat(x, self._buffers)  # flat input as it is: no per-step view
        y = self._buffers.get("y", (x.shape[0], self.units), W.dtype)
        if len(x) == 1:
            rows = self._rows = self._span(x) if W.size >= _SPAN_MIN else None
            if rows is None:  # not W[:] and x[:, :]: two views a layer a step cost 5 % of a 784-100-200-200-10 step
                self._sample_blas.matvec(W.T, x, y)
            else:
                self._sample_blas.matvec(W[rows].T, x[:, rows], y)
        else:
            np.matmul(x, W, out=y)
        y += b
        self._x = x
        return y

    def _span(self, x) -> slice:
        """The rows from the input's first nonzero value to its last (NaN counts as nonzero), rounded out to
        :data:`_SPAN_ALIGN`: the others multiply zeros, so forward and the rank-one update can leave them out."""
        n = x.shape[1]
        nonzero = self._buffers.get("nonzero", (n,), np.bool_)
        np.not_equal(x[0], self._buffers.zeros("zeros", (n,), x.dtype), out=nonzero)
        first, after = int(nonzero.argmax()), n - int(nonzero[::-1].argmax())  # all zeros: 0 and n, every row
        return slice(first - first % _SPAN_ALIGN, min(n, -(-after // _SPAN_ALIGN) * _SPAN_ALIGN))

    def backward(self, dy, need_dx=True):
        W, b = self._params
        if len(dy) == 1:  # an outer product: as a K=1 GEMM it is four times slower
            np.multiply(self._x.T, dy, out=W.grad)
        else:
            np.matmul(self._x.T, dy, out=W.grad)
        np.add.reduce(dy, axis=0, out=b.grad)  # np.sum without its Python wrapper
        return self._dx(dy) if need_dx else None

    def backward_descent(self, dy, rates, need_dx=True):
        """``backward`` and the plain-SGD update in one go; ``dx`` is computed from the weights before it.

        On one sample, ``W -= rate·xᵀdy`` is a single BLAS rank-1 update (``ger``) in place,
        where the separate gradient, scaling and addition read and write ``W`` three times, and
        ``b -= rate·dy`` one ``axpy``. On a batch, large weights are updated the same way by one
        gemm that adds into them (:func:`zoo.gemm.add_product`). Both round each weight once
        (fused multiply-adds), so they differ in the last bits from the separate steps; small
        weights, and NumPys without a bundled OpenBLAS, round exactly as ``backward`` followed
        by the ``sgd`` optimizer.
        """
        W, b = self._params
        dx = self._dx(dy) if need_dx else None
        if len(dy) > 1:
            if W.value.size >= _GEMM_UPDATE_MIN and add_product(W.value, -rates[0], self._x.T, dy):
                np.add.reduce(dy, axis=0, out=b.grad)
                descend([b], rates[1:])
            else:
                self.backward(dy, need_dx=False)
                descend(self._params, rates)
            return dx
        # W is C-ordered, so W.T is the Fortran-ordered matrix ger updates in place: W.T += -rate·dyᵀx, on the
        # rows forward used: the others would add -rate·dy·0, nothing.
        rows, x = self._rows, self._x
        WT, x = (W.value.T, x) if rows is None else (W.value[rows].T, x[:, rows])
        # (alpha, x, y, incx, incy, a, overwrite_x, overwrite_y, overwrite_a)
        updated = self._sample_blas.ger(-rates[0], dy, x, 1, 1, WT, 1, 1, 1)
        if updated is not WT:  # scipy had to copy after all: keep the update anyway
            WT[...] = updated
        updated = self._sample_blas.axpy(dy, b.value, b.value.size, -rates[1])  # (x, y, n, a)
        if updated is not b.value:
            b.value[...] = updated
        return dx

    def _dx(self, dy):
        W = self._params[0].value
        dx = self._buffers.get("dx", (dy.shape[0], W.shape[0]), dy.dtype)
        if len(dy) == 1:
            self._sample_blas.matvec(W.T, dy, dx, transpose=True)
        else:
            np.matmul(dy, W.T, out=dx)
        return dx if len(self._in_shape) == 1 else dx.reshape((len(dx), *self._in_shape))

    def to_onnx(self, graph, x):
        """``Gemm(flatten(x), W, b)``: ``W`` is ``(features, units)``, as the Gemm's ``B`` without transposing."""
        W, b = (graph.constant(p.name, p.value) for p in self._params)
        if len(graph.in_shape) > 1:  # dense flattens multi-axis input itself, in C order as ONNX's Flatten
            x = graph.node("Flatten", [x], axis=1)
        return graph.node("Gemm", [x, W, b])


@attrs.define(eq=False, on_setattr=attrs.setters.NO_OP)
class ParameterFree:
    """Base of parameter-free layers that keep their input's shape; ``_y`` is the last output."""

    zoo_contract = 2
    _y: np.ndarray | None = attrs.field(init=False, default=None)
    _buffers: Buffers = attrs.field(init=False, factory=Buffers)

    def build(self, in_shape, dtype, rng):
        return tuple(in_shape)

    def params(self):
        return []

    def multiply_adds(self):
        return 0


@attrs.define(eq=False, on_setattr=attrs.setters.NO_OP)
class Flatten(ParameterFree):
    """``(N, C, H, W) -> (N, C·H·W)`` in C order: a view of the input, no copy, when the input is contiguous."""

    _in_shape: tuple = attrs.field(init=False, default=())

    def build(self, in_shape, dtype, rng):
        self._in_shape = tuple(in_shape)
        return (math.prod(in_shape),)

    def forward(self, x, training):
        return flat(x, self._buffers)

    def backward(self, dy, need_dx=True):
        return dy.reshape((len(dy), *self._in_shape)) if need_dx else None

    def to_onnx(self, graph, x):
        return graph.node("Flatten", [x], axis=1)


_FLOAT_MASK_MAX = 2048
"""ReLU's backward multiplies arrays of at most this many values by a float mask, larger ones by a boolean one."""


@attrs.define(eq=False, on_setattr=attrs.setters.NO_OP)
class ReLU(ParameterFree):
    """``max(x, 0)``."""

    def forward(self, x, training):
        y = self._buffers.get("y", x.shape, x.dtype)
        self._y = np.maximum(x, self._buffers.zeros("zeros", x.shape, x.dtype), out=y)  # faster than against 0
        return y

    def backward(self, dy, need_dx=True):
        """``dy`` where the output is positive, else 0: ``dy`` times a mask of the output's signs.

        The mask is float (``sign(y)``: 0 or 1, since ``y >= 0``) on small arrays and boolean on
        large ones: multiplying by a boolean mask costs a fixed 0.7 µs of casting set-up (half of
        a one-sample step's ReLU backward), by a float mask more per value (1.7× at batch 128).
        The products are the same but for the sign of a zero (and NaN where ``y`` is NaN).
        """
        if not need_dx:
            return None
        dx = self._buffers.get("dx", dy.shape, dy.dtype)
        if dy.size <= _FLOAT_MASK_MAX:
            return np.multiply(dy, np.sign(self._y, out=self._buffers.get("sign", dy.shape, dy.dtype)), out=dx)
        active = self._buffers.get("active", dy.shape, np.bool_)
        np.greater(self._y, self._buffers.zeros("zeros", dy.shape, dy.dtype), out=active)  # as forward's maximum
        return np.multiply(dy, active, out=dx)

    def to_onnx(self, graph, x):
        return graph.node("Relu", [x])


@attrs.define(eq=False, on_setattr=attrs.setters.NO_OP)
class Tanh(ParameterFree):
    """``tanh(x)``, LeNet's original squashing function; its derivative is ``1 - y²``."""

    def forward(self, x, training):
        self._y = np.tanh(x, out=self._buffers.get("y", x.shape, x.dtype))
        return self._y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dx = self._buffers.get("dx", dy.shape, dy.dtype)
        np.multiply(self._y, self._y, out=dx)
        np.subtract(1, dx, out=dx)
        dx *= dy
        return dx

    def to_onnx(self, graph, x):
        return graph.node("Tanh", [x])


@attrs.define(eq=False, on_setattr=attrs.setters.NO_OP)
class Sigmoid(ParameterFree):
    """``1 / (1 + exp(-x))``, computed as ``(1 + tanh(x / 2)) / 2``, which cannot overflow; derivative ``y(1 - y)``."""

    def forward(self, x, training):
        y = self._buffers.get("y", x.shape, x.dtype)
        np.multiply(x, 0.5, out=y)
        np.tanh(y, out=y)
        y += 1
        y *= 0.5
        self._y = y
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dx = self._buffers.get("dx", dy.shape, dy.dtype)
        np.subtract(1, self._y, out=dx)
        dx *= self._y
        dx *= dy
        return dx

    def to_onnx(self, graph, x):
        return graph.node("Sigmoid", [x])


@attrs.define(eq=False, on_setattr=attrs.setters.NO_OP)
class Softmax(ParameterFree):
    """Row-wise softmax on flat input ``(N, K)``, for networks whose output should be probabilities.

    With the ``cross_entropy`` loss this is equivalent to, but slower and less stable
    than, a linear output with ``softmax_cross_entropy``.
    """

    def build(self, in_shape, dtype, rng):
        if len(in_shape) != 1:
            raise ValueError(f"softmax needs flat input (features,), got {tuple(in_shape)}: put flatten before it")
        return tuple(in_shape)

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

    def to_onnx(self, graph, x):
        """Over the features of ``(N, K)``: the only input softmax builds for."""
        return graph.node("Softmax", [x], axis=1)


@attrs.define(eq=False, on_setattr=attrs.setters.NO_OP)
class Dropout(ParameterFree):
    """Inverted dropout: in training, zero each value with probability ``rate`` and scale the rest by 1/(1-rate).

    At evaluation it is the identity, so no rescaling is needed at test time. Works on any
    shape, one independent draw per value.
    """

    rate: float = attrs.field(validator=number(ge=0, lt=1))
    _rng: np.random.Generator | None = attrs.field(init=False, default=None)
    _mask: np.ndarray | None = attrs.field(init=False, default=None)

    def build(self, in_shape, dtype, rng):
        self._rng = rng  # the layer's own stream: masks never disturb other random draws
        return tuple(in_shape)

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

    def to_onnx(self, graph, x):
        """The identity at evaluation: no node at all."""
        return x


@zoo.hookimpl
def register_layers(register):
    register("dense", Dense)
    register("flatten", Flatten)
    register("relu", ReLU)
    register("tanh", Tanh)
    register("sigmoid", Sigmoid)
    register("softmax", Softmax)
    register("dropout", Dropout)
