"""What a layer is: the interface layer plugins implement, their parameters, and reusable buffers.

Layers speak a versioned contract. Contract 2 (today's) works on per-sample shapes,
channels first: ``build(in_shape) -> out_shape``, with MNIST arriving as ``(1, 28, 28)``.
Contract 1 (zoo 0.1's) works on flat batches: ``build(in_features) -> int``. A layer
declares contract 2 with the class attribute ``zoo_contract = 2``; a layer without it is
a contract-1 layer, which the network wraps in :class:`FlatLayer`, so plugins written for
zoo 0.1 keep working unchanged.
"""

import math
import numbers
from typing import Protocol

import attrs
import numpy as np

CONTRACT = 2
"""The layer contract this zoo speaks natively."""
CONTRACTS = (1, 2)
"""Every layer contract this zoo can run."""


@attrs.define(eq=False)
class Param:
    """A trainable array, its gradient (same shape, filled by ``backward``) and an optional own learning rate."""

    name: str
    value: np.ndarray
    grad: np.ndarray
    lr: float | None = None


class Layer(Protocol):
    """A layer on batches ``(N, *in_shape)``, per-sample shapes channels first (``(C, H, W)`` for images).

    ``forward`` may return a view of a buffer the layer reuses on the next call:
    callers must not keep it across steps. Optionally, ``state()`` and ``load_state()``
    expose arrays that are not trained but belong to the model (batch norm's running
    statistics): checkpoints and model files save them, resume and load restore them;
    ``multiply_adds()`` gives the multiply-adds of one sample's forward pass, for ``zoo show``;
    ``to_onnx(graph, x) -> y`` adds the layer's evaluation-mode computation to an ONNX graph
    for ``zoo export`` (see :class:`zoo.onnx_export.OnnxGraph`); and ``backward_descent(dy, rates,
    need_dx) -> dx`` does ``backward`` and then the plain-SGD update ``value -= rate·grad`` of each
    of ``params()`` (``rates`` in that order) in one go, e.g. as one BLAS rank-1 update, without
    having to fill ``grad`` (see :func:`descend`). Layers without it are updated by :func:`descend`.
    """

    zoo_contract = CONTRACT

    def build(self, in_shape: tuple[int, ...], dtype: np.dtype, rng: np.random.Generator) -> tuple[int, ...]:
        """Create parameters for samples of ``in_shape``; return the shape of one output sample."""

    def params(self) -> list[Param]:
        """The trainable parameters (empty for parameter-free layers)."""

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        """``(N, *in_shape) -> (N, *out_shape)``; ``training`` switches train-only behaviour (dropout, batch norm)."""

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """Fill parameter gradients from ``dy`` ``(N, *out_shape)``; return ``dx`` ``(N, *in_shape)`` if needed."""


def contract_of(layer: object) -> int:
    """The contract ``layer`` declares (``zoo_contract``), 1 when it declares none."""
    return getattr(layer, "zoo_contract", 1)


def is_shape(value: object) -> bool:
    """A per-sample shape: a non-empty tuple of positive integers."""
    return (
        isinstance(value, tuple)
        and len(value) > 0
        and all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n > 0 for n in value)
    )


@attrs.define(eq=False)
class FlatLayer:
    """A contract-1 layer (flat batches, ``build(in_features) -> int``) seen through contract 2.

    Its input is flattened to ``(N, prod(in_shape))`` (a view when the input is contiguous)
    and its output width becomes the shape ``(width,)``; ``dx`` is given back the input's shape.
    """

    zoo_contract = CONTRACT
    layer: object
    _in_shape: tuple[int, ...] = ()

    def build(self, in_shape, dtype, rng):
        width = self.layer.build(math.prod(in_shape), dtype, rng)
        if not isinstance(width, numbers.Integral) or isinstance(width, bool) or width < 1:
            raise TypeError(f"build() returned {width!r}; a contract-1 layer returns a positive number of features")
        self._in_shape = tuple(in_shape)
        return (int(width),)

    def params(self):
        return self.layer.params()

    def forward(self, x, training):
        return self.layer.forward(x.reshape(len(x), -1), training)

    def backward(self, dy, need_dx=True):
        dx = self.layer.backward(dy, need_dx)
        return dx if dx is None else dx.reshape((len(dx), *self._in_shape))


def descend(params: list[Param], rates: list[float]) -> None:
    """``value -= rate·grad`` for each parameter, in place, rounded exactly as the ``sgd`` optimizer's step."""
    for param, rate in zip(params, rates):
        param.grad *= param.grad.dtype.type(-rate)
        param.value += param.grad


def flat(x: np.ndarray, buffers: "Buffers") -> np.ndarray:
    """``x`` as ``(N, features)`` in C order: a view when ``x`` is contiguous, else a copy into a reused buffer."""
    if x.flags.c_contiguous:
        return x.reshape(len(x), -1)
    out = buffers.get("flat", (len(x), math.prod(x.shape[1:])), x.dtype)
    np.copyto(out.reshape(x.shape), x)
    return out


class Buffers:
    """Named arrays reused across steps: re-allocated only when a batch larger than any before arrives."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}
        self._last: dict[str, tuple] = {}  # key -> (shape, dtype, view) last handed out: most steps ask again
        self._zeroed: dict[str, np.ndarray] = {}  # key -> the array zeros() last filled

    def get(self, key: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An array of ``shape`` and ``dtype``, a view of the buffer ``key``; its contents are undefined.

        The first axis is the batch: a smaller batch is a view of the buffer's first rows.
        """
        last = self._last.get(key)
        if last is not None and last[0] == shape and last[1] == dtype:
            return last[2]
        array = self._arrays.get(key)
        if array is None or array.shape[0] < shape[0] or array.shape[1:] != shape[1:] or array.dtype != dtype:
            array = self._arrays[key] = np.empty(shape, dtype=dtype)
        view = array[: shape[0]]
        self._last[key] = (tuple(shape), dtype, view)
        return view

    def zeros(self, key: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """As :meth:`get`, but all zeros, for an operand that is only read: never write to it.

        NumPy's ``maximum`` runs about three times faster against an array of zeros than
        against the scalar 0 (its vectorised loop wants two arrays), with the same bits.
        """
        view = self.get(key, shape, dtype)
        array = self._arrays[key]
        if self._zeroed.get(key) is not array:  # zeroed once, when made
            array.fill(0)
            self._zeroed[key] = array
        return view

    def arange(self, n: int) -> np.ndarray:
        """``0 .. n-1`` as intp, made once for the largest ``n`` seen."""
        ramp = self._arrays.get("arange")
        if ramp is None or len(ramp) < n:
            ramp = self._arrays["arange"] = np.arange(n, dtype=np.intp)
        return ramp[:n]
