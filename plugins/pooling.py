"""Built-in pooling: ``maxpool2d``, ``avgpool2d`` (``size``×``size`` windows every ``stride``) and ``global_avgpool``.

Windows are pooled separably, first along the width (every row: ``(N, C, H, W) ->
(N, C, H, W')``), then along the height (``-> (N, C, H', W')``), each as ``size`` element-wise
operations on strided views: no window is ever copied out. Like PyTorch, windows that
would run past the edge are dropped (``H' = floor((H - size) / stride) + 1``); the rows and
columns they leave out get zero gradient. A ``size`` larger than the input is an error.
"""

import math

import attrs
import numpy as np

import zoo
from zoo.layers import Buffers
from zoo.options import number, optional_number


def _along(a: np.ndarray, axis: int, start: int, step: int, count: int) -> np.ndarray:
    """The view of ``count`` entries of ``a`` along ``axis`` from ``start`` every ``step``."""
    index = [slice(None)] * a.ndim
    index[axis] = slice(start, start + step * (count - 1) + 1, step)
    return a[tuple(index)]


@attrs.define(eq=False)
class _Pool2D:
    """Shared geometry of the 2-D pools: ``size``, ``stride`` (default ``size``), the output shape."""

    zoo_contract = 2
    size: int = attrs.field(validator=number(integer=True, gt=0))
    stride: int | None = attrs.field(default=None, validator=optional_number(integer=True, gt=0))
    _in_shape: tuple = attrs.field(init=False, default=())
    _out: tuple = attrs.field(init=False, default=())
    _buffers: Buffers = attrs.field(init=False, factory=Buffers)

    @property
    def step(self) -> int:
        return self.size if self.stride is None else self.stride

    def build(self, in_shape, dtype, rng):
        name = type(self).name
        if len(in_shape) != 3:
            raise ValueError(f"{name} needs (C, H, W) input, got {tuple(in_shape)}")
        C, H, W = in_shape
        if self.size > H or self.size > W:
            raise ValueError(f"{name}: the {self.size}x{self.size} window is larger than the input {H}x{W}")
        self._in_shape = tuple(in_shape)
        self._out = ((H - self.size) // self.step + 1, (W - self.size) // self.step + 1)
        return (C, *self._out)

    def params(self):
        return []

    def _views(self, a: np.ndarray, axis: int) -> list[np.ndarray]:
        """For each window offset, the view of ``a`` at that offset of every window along ``axis`` (2 or 3)."""
        count = self._out[axis - 2]
        return [_along(a, axis, offset, self.step, count) for offset in range(self.size)]

    def _shapes(self, n: int) -> tuple[tuple, tuple]:
        """The shapes after pooling the width, then the height: ``(n, C, H, W')``, ``(n, C, H', W')``."""
        C, H, _ = self._in_shape
        return (n, C, H, self._out[1]), (n, C, *self._out)

    def _gradient(self, key: str, shape: tuple, dtype: np.dtype, axis: int) -> np.ndarray:
        """A buffer for gradients routed along ``axis``, zeroed first unless the views cover it once exactly."""
        array = self._buffers.get(key, shape, dtype)
        if self.step != self.size or (shape[axis] - self.size) % self.step:
            array.fill(0)
        return array

    def to_onnx(self, graph, x):
        """ONNX's pool of the same name without padding: windows past the edge are dropped (floor), as here."""
        return graph.node(self.onnx_op, [x], kernel_shape=[self.size] * 2, strides=[self.step] * 2)


@attrs.define(eq=False)
class MaxPool2D(_Pool2D):
    """The maximum of each window; its gradient goes to the first maximum in row-major order, as PyTorch's.

    Ties (equal values, such as the zeros ReLU leaves) give the whole gradient to the
    topmost, then leftmost, of them, so the gradient of every window sums to its ``dy``.
    """

    name = "maxpool2d"
    onnx_op = "MaxPool"

    def multiply_adds(self):
        return 0  # comparisons only

    def forward(self, x, training):
        wide, out = self._shapes(len(x))
        rows = self._pick(self._views(x, 3), wide, "width")
        return self._pick(self._views(rows, 2), out, "height")

    def _pick(self, views: list[np.ndarray], shape: tuple, key: str) -> np.ndarray:
        """The element-wise maximum of ``views``, and in ``key.which`` which view first held it."""
        best = self._buffers.get(key, shape, views[0].dtype)
        which = self._buffers.get(f"{key}.which", shape, np.uint8)
        if len(views) == 2:  # the common 2x2 pool, in two operations
            np.greater(views[1], views[0], out=which)
            return np.maximum(views[0], views[1], out=best)
        higher = self._buffers.get(f"{key}.higher", shape, np.bool_)
        offsets = self._buffers.get(f"{key}.offsets", shape, np.uint8)
        np.copyto(best, views[0])
        which.fill(0)
        for offset, view in enumerate(views[1:], start=1):
            np.greater(view, best, out=higher)  # strictly: an equal later value does not take over
            np.maximum(best, view, out=best)
            # The last offset that took over is the largest: a max, not a masked copy (10x slower on strided views).
            np.maximum(which, np.multiply(higher, np.uint8(offset), out=offsets), out=which)
        return best

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        wide, _ = self._shapes(len(dy))
        rows = self._route(dy, "height", self._gradient("d.width", wide, dy.dtype, 2), 2)
        return self._route(rows, "width", self._gradient("dx", (len(dy), *self._in_shape), dy.dtype, 3), 3)

    def _route(self, dy: np.ndarray, key: str, dx: np.ndarray, axis: int) -> np.ndarray:
        """Send each value of ``dy`` to the view that held the maximum (``key``'s record) in ``dx``."""
        which = self._buffers.get(f"{key}.which", dy.shape, np.uint8)
        views = self._views(dx, axis)
        if self.step >= self.size == 2:  # no overlap, two views: the first gets what the second does not
            np.multiply(dy, which, out=views[1])
            np.subtract(dy, views[1], out=views[0])
            return dx
        chosen = self._buffers.get(f"{key}.chosen", dy.shape, np.bool_)
        part = self._buffers.get(f"{key}.part", dy.shape, dy.dtype)
        for offset, view in enumerate(views):
            np.equal(which, offset, out=chosen)
            if self.step >= self.size:  # windows do not overlap: each value of dx has one source
                np.multiply(dy, chosen, out=view)
            else:
                view += np.multiply(dy, chosen, out=part)
        return dx


@attrs.define(eq=False)
class AvgPool2D(_Pool2D):
    """The mean of each window; its gradient is ``dy / size²`` to every element of the window."""

    name = "avgpool2d"
    onnx_op = "AveragePool"

    def multiply_adds(self):
        return self._in_shape[0] * self._out[0] * self._out[1] * self.size**2

    def forward(self, x, training):
        wide, out = self._shapes(len(x))
        rows = self._sum(self._views(x, 3), self._buffers.get("width", wide, x.dtype))
        y = self._sum(self._views(rows, 2), self._buffers.get("height", out, x.dtype))
        y *= y.dtype.type(1 / self.size**2)
        return y

    @staticmethod
    def _sum(views: list[np.ndarray], out: np.ndarray) -> np.ndarray:
        if len(views) == 1:
            np.copyto(out, views[0])
        else:
            np.add(views[0], views[1], out=out)
        for view in views[2:]:
            out += view
        return out

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        wide, _ = self._shapes(len(dy))
        scaled = self._buffers.get("scaled", dy.shape, dy.dtype)
        np.multiply(dy, dy.dtype.type(1 / self.size**2), out=scaled)
        rows = self._spread(scaled, self._gradient("d.width", wide, dy.dtype, 2), 2)
        return self._spread(rows, self._gradient("dx", (len(dy), *self._in_shape), dy.dtype, 3), 3)

    def _spread(self, dy: np.ndarray, dx: np.ndarray, axis: int) -> np.ndarray:
        for view in self._views(dx, axis):
            if self.step >= self.size:
                np.copyto(view, dy)
            else:
                view += dy
        return dx


@attrs.define(eq=False)
class GlobalAvgPool:
    """``(N, C, H, W) -> (N, C)``: the mean of each channel, for classifier heads that do not flatten."""

    zoo_contract = 2
    _in_shape: tuple = attrs.field(init=False, default=())
    _buffers: Buffers = attrs.field(init=False, factory=Buffers)

    def build(self, in_shape, dtype, rng):
        if len(in_shape) != 3:
            raise ValueError(f"global_avgpool needs (C, H, W) input, got {tuple(in_shape)}")
        self._in_shape = tuple(in_shape)
        return (in_shape[0],)

    def params(self):
        return []

    def multiply_adds(self):
        return math.prod(self._in_shape)

    def forward(self, x, training):
        y = self._buffers.get("y", x.shape[:2], x.dtype)
        np.sum(x, axis=(2, 3), out=y)
        y *= y.dtype.type(1 / math.prod(x.shape[2:]))
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dx = self._buffers.get("dx", (len(dy), *self._in_shape), dy.dtype)
        np.multiply(dy[:, :, None, None], dy.dtype.type(1 / math.prod(self._in_shape[1:])), out=dx)
        return dx

    def to_onnx(self, graph, x):
        """``(N, C, H, W) -> (N, C, 1, 1) -> (N, C)``."""
        return graph.node("Flatten", [graph.node("GlobalAveragePool", [x])], axis=1)


@zoo.hookimpl
def register_layers(register):
    register("maxpool2d", MaxPool2D)
    register("avgpool2d", AvgPool2D)
    register("global_avgpool", GlobalAvgPool)
