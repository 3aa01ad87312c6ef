"""Built-in 2-D convolution, ``conv2d``: im2col plus one batched GEMM per pass, in chunks that stay in cache.

Batches are NCHW, ``(N, C, H, W)`` in and ``(N, filters, H', W')`` out. The im2col matrix
of one sample is ``(C·kh·kw, H'·Wp)``: its columns run over an *extended* grid, every
output row as wide as the padded input (``Wp``), so that for each kernel offset the
``H'·Wp`` input values a row of the matrix needs are one evenly strided run of the
padded image. Both im2col and col2im then move long runs (one ``np.copyto`` in, ``kh·kw``
strided adds back) instead of ``H'`` short rows each. The ``Wp - W'`` extra columns of
each output row are computed and dropped: ``forward`` returns a view without them, and
``backward`` multiplies them by zero. With a bias the matrix has one more row, of ones,
so that the GEMM adds the bias and the weight-gradient GEMM sums it.

col2im works channel-major over the whole chunk: the im2col gradients are laid out kernel
offset first, then channel, then sample, each block a padded image's values (``stride`` times
fewer, and at least the extended grid), and the input gradient channel first, then sample.
Each kernel offset's gradients then go back with one long contiguous (strided for ``stride``
> 1) add over every channel and sample of the chunk: the zero columns of the extended grid,
and the zero tail of each block, fall on the border or on the next block's start, and add
nothing. That is ``kh·kw`` adds per chunk instead of ``kh·kw`` adds of ``n·C`` short rows
each: three times faster here, the same sums in the same order. The GEMM before it, its rows
in that order, rounds the same on OpenBLAS's SkylakeX kernels and differently in the last
place on its Haswell ones.

The batch is processed a few samples at a time (``CHUNK_BYTES`` of im2col matrix), which
keeps the matrix in the cache between the copy that fills it and the GEMMs that read it.
``backward`` starts with the last chunk, whose matrices forward left in place, and makes
the others again from the input: cheaper than keeping the whole batch's.

The chunks are dealt in turn to one worker per core (:func:`zoo.cores.compute_threads`: fewer
when ``OPENBLAS_NUM_THREADS`` and kin ask for fewer), each with scratch arrays of its own; NumPy
releases the GIL in its copies and products. A chunk's GEMMs are too small for OpenBLAS to
thread, so without this a step ran on one core. Every chunk's arithmetic is the same whichever
worker does it and the weight gradient sums the chunks in one fixed order, so the results are
the same bits for any number of workers. Training holds NumPy's OpenBLAS at one thread while
such a layer runs (``zoo_threads``): its idle threads would spin on the workers' cores.
"""

import concurrent.futures
import functools

import attrs
import numpy as np
from numpy.lib.stride_tricks import as_strided
from zoo_builtins.initialisers import Constant, He

import zoo
from zoo.cores import compute_threads
from zoo.layers import Buffers, Param
from zoo.options import boolean, number

CHUNK_BYTES = 1 << 20
"""Size of the im2col matrix of one chunk of samples: one core's L2 cache here (faster than 0.5, 2 or 4 MB)."""


@functools.cache
def _pool(workers: int) -> concurrent.futures.ThreadPoolExecutor:
    """The threads that take every chunk group but the first (the calling thread takes that one)."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=workers - 1, thread_name_prefix="zoo-conv2d")


def _positive_pair(instance, attribute, value):
    """Validator: a positive integer or a pair ``[height, width]`` of them."""
    values = value if isinstance(value, tuple) and len(value) == 2 else (value,)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
        raise ValueError(f"{attribute.name!r} must be a positive integer or [height, width], got {value!r}")


def _padding(instance, attribute, value):
    """Validator: ``"valid"``, ``"same"`` or a non-negative integer."""
    if value in ("valid", "same") and isinstance(value, str):
        return
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        raise ValueError(f'{attribute.name!r} must be "valid", "same" or an integer >= 0, got {value!r}')


def _pair(value: int | tuple) -> tuple[int, int]:
    return value if isinstance(value, tuple) else (value, value)


def _pads(padding: str | int, size: int, k: int, stride: int) -> tuple[int, int]:
    """Zeros before and after one spatial axis of ``size`` for a kernel ``k``."""
    if padding == "valid":
        return 0, 0
    if padding == "same":  # TensorFlow's rule: ceil(size / stride) outputs, any odd zero after
        total = max((-(-size // stride) - 1) * stride + k - size, 0)
        return total // 2, total - total // 2
    return padding, padding


@attrs.frozen
class _Geometry:
    """Where a kernel goes over one ``(C, H, W)`` sample: padding, output size and the extended grid."""

    channels: int
    kernel: tuple[int, int]
    stride: int
    top: int
    left: int
    size: tuple[int, int]
    padded: tuple[int, int]
    out: tuple[int, int]

    @classmethod
    def of(cls, in_shape, kernel, stride, padding) -> "_Geometry":
        if len(in_shape) != 3:
            raise ValueError(f"conv2d needs (C, H, W) input, got {tuple(in_shape)}")
        C, H, W = in_shape
        kh, kw = _pair(kernel)
        (top, bottom), (left, right) = _pads(padding, H, kh, stride), _pads(padding, W, kw, stride)
        Hp, Wp = H + top + bottom, W + left + right
        if kh > Hp or kw > Wp:
            raise ValueError(f"conv2d: the {kh}x{kw} kernel is larger than the padded input {Hp}x{Wp}")
        out = ((Hp - kh) // stride + 1, (Wp - kw) // stride + 1)
        return cls(C, (kh, kw), stride, top, left, (H, W), (Hp, Wp), out)

    @property
    def taps(self) -> int:
        """Values under one kernel: ``C·kh·kw``."""
        return self.channels * self.kernel[0] * self.kernel[1]

    @property
    def grid(self) -> int:
        """Columns of the extended grid: ``H'·Wp``."""
        return self.out[0] * self.padded[1]

    @property
    def run(self) -> int:
        """Columns of the extended grid up to the last real output: ``(H' - 1)·Wp + W'``."""
        return (self.out[0] - 1) * self.padded[1] + self.out[1]

    @property
    def block(self) -> int:
        """Columns of one im2col gradient block of col2im: the extended grid, or a padded image's values
        ``stride`` times fewer if that is more (so that ``stride`` blocks hold a padded image)."""
        return max(self.grid, -(-self.padded[0] * self.padded[1] // self.stride))

    @property
    def interior(self) -> tuple[slice, slice]:
        """Where the input sits in the padded image."""
        (H, W) = self.size
        return slice(self.top, self.top + H), slice(self.left, self.left + W)


@attrs.frozen
class _Views:
    """Views of a layer's scratch arrays for a chunk of ``n`` samples, made once per ``n``: a step only calls numpy."""

    image: np.ndarray
    """``(n, C, H, W)``: where the input goes, inside the padded images' zero border."""
    windows: np.ndarray
    """``(n, C, kh, kw, run)``: the padded images, every kernel offset's run (the im2col source)."""
    cols_in: np.ndarray
    """The same shape in the im2col matrices (the im2col target)."""
    cols: np.ndarray
    """``(n, C·kh·kw + bias, H'·Wp)``: the im2col matrices."""
    dy: np.ndarray
    """``(n, F, H', W')``: where dy goes in the extended dy, whose extra columns stay zero."""
    dy_ext: np.ndarray
    """``(n, F, H'·Wp)``."""
    grads: np.ndarray
    """``(n, C·kh·kw + bias, F)``: each sample's weight gradients, transposed."""
    dcols: np.ndarray
    """``(n, kh·kw·C, H'·Wp)``: the im2col matrices' gradients, rows by kernel offset then channel (a view of
    ``(kh·kw·C, n, block)``, whose columns past ``H'·Wp`` stay zero)."""
    dx_padded: np.ndarray
    """``(C·n·stride·block,)``: the padded input gradients, channel-major, each ``stride·block`` long."""
    dx_interior: np.ndarray
    """``(n, C, H, W)``: where the input sits in them."""
    adds: tuple
    """The kh·kw (target in dx_padded, source in dcols) pairs of col2im, one per kernel offset."""

    @classmethod
    def of(cls, g: _Geometry, scratch: dict[str, np.ndarray], n: int) -> "_Views":
        (kh, kw), (Hp, Wp), C, s = g.kernel, g.padded, g.channels, g.stride
        padded, cols, dy_ext = (scratch[key][:n] for key in ("padded", "cols", "dy"))
        e = padded.itemsize
        windows = as_strided(
            padded,
            (n, C, kh, kw, g.run),
            (padded.strides[0], padded.strides[1], Wp * e, e, s * e),
            writeable=False,
        )
        length = C * n * g.block  # one kernel offset's gradients, every channel and sample of the chunk
        dcols = scratch["dcols"][: kh * kw * length].reshape(kh * kw, length)
        dx_padded = scratch["dx_padded"][: s * length]
        adds = []
        for i in range(kh):
            for j in range(kw):
                start = i * Wp + j
                count = -(-(s * length - start) // s)  # those of the offset's values that land in dx_padded
                adds.append((dx_padded[start : start + s * (count - 1) + 1 : s], dcols[i * kw + j, :count]))
        images = dx_padded.reshape(C, n, s * g.block)[..., : Hp * Wp].reshape(C, n, Hp, Wp)
        return cls(
            image=padded[(..., *g.interior)],
            windows=windows,
            cols_in=cols[:, : g.taps].reshape(n, C, kh, kw, g.grid)[..., : g.run],
            cols=cols,
            dy=dy_ext[..., : g.out[1]],
            dy_ext=dy_ext.reshape(n, -1, g.grid),
            grads=scratch["grads"][:n],
            dcols=dcols.reshape(kh * kw * C, n, g.block)[..., : g.grid].transpose(1, 0, 2),
            dx_padded=dx_padded,
            dx_interior=images[(..., *g.interior)].transpose(1, 0, 2, 3),
            adds=tuple(adds),
        )


_PLANS_KEPT = 8
"""Batch sizes whose chunk lists a conv2d layer keeps (see ``Conv2D._plans``)."""


@attrs.define(eq=False)
class Conv2D:
    """``filters`` kernels of ``kernel`` (``k`` or ``[kh, kw]``) over ``(C, H, W)`` samples, with ``stride``.

    ``padding``: ``"valid"`` (none), an integer (that many zeros on every side) or
    ``"same"``: as TensorFlow, ``ceil(H / stride)`` outputs per axis, padded with
    ``(H' - 1)·stride + kh - H`` zeros split evenly, the odd one after (below, right);
    with stride 1 this keeps ``H, W``. Parameters: ``W`` ``(filters, C, kh, kw)`` (PyTorch's
    layout), initialised by ``weight_init`` (default He normal, fan_in ``C·kh·kw``,
    fan_out ``filters·kh·kw``), and unless ``bias`` is false ``b`` ``(filters,)`` by
    ``bias_init`` (default zeros). An extended row is ``Wp`` outputs long whatever the
    stride, so with ``stride`` s the GEMMs do about s times the work the outputs need.
    """

    zoo_contract = 2
    filters: int = attrs.field(validator=number(integer=True, gt=0))
    kernel: int | tuple = attrs.field(
        converter=lambda v: tuple(v) if isinstance(v, list) else v, validator=_positive_pair
    )
    stride: int = attrs.field(default=1, validator=number(integer=True, gt=0))
    padding: str | int = attrs.field(default="valid", validator=_padding)
    bias: bool = attrs.field(default=True, validator=boolean)
    weight_init: object = attrs.field(factory=lambda: He(uniform=False), validator=attrs.validators.is_callable())
    bias_init: object = attrs.field(factory=lambda: Constant(0.0), validator=attrs.validators.is_callable())
    _params: list = attrs.field(init=False, factory=list)
    _g: _Geometry | None = attrs.field(init=False, default=None)
    _chunk: int = attrs.field(init=False, default=1)
    _shared: dict = attrs.field(init=False, factory=dict)
    """Scratch arrays every worker reads: the weights as the GEMMs take them, the weight gradient."""
    _scratch: list = attrs.field(init=False, factory=list)
    """Each worker's own scratch arrays: its im2col matrices, padded images and their gradients."""
    _views: dict = attrs.field(init=False, factory=dict)
    """``(worker, n)`` -> the :class:`_Views` of that worker's scratch for a chunk of ``n`` samples."""
    _plans: dict = attrs.field(init=False, factory=dict)
    """Batch size -> its :meth:`_groups`, made once: a step then builds no Python lists of chunks. Training
    and evaluation see two or three batch sizes; the cache starts again past ``_PLANS_KEPT`` of them."""
    _buffers: Buffers = attrs.field(init=False, factory=Buffers)
    _x: np.ndarray | None = attrs.field(init=False, default=None)
    _fresh: bool = attrs.field(init=False, default=False)

    def build(self, in_shape, dtype, rng):
        g = self._g = _Geometry.of(in_shape, self.kernel, self.stride, self.padding)
        (kh, kw), F, K = g.kernel, self.filters, g.taps
        W = np.ascontiguousarray(self.weight_init((F, g.channels, kh, kw), K, F * kh * kw, rng, dtype))
        self._params = [Param("W", W, np.zeros_like(W))]
        if self.bias:
            b = np.ascontiguousarray(self.bias_init((F,), K, F * kh * kw, rng, dtype))
            self._params.append(Param("b", b, np.zeros_like(b)))
        rows = K + self.bias
        n = self._chunk = max(1, CHUNK_BYTES // (rows * g.grid * np.dtype(dtype).itemsize))
        self._shared = {
            "weights": np.empty((F, rows), dtype),
            "weights_by_offset": np.empty((F, kh, kw, g.channels), dtype),
            "grad": np.empty((rows, F), dtype),
        }
        self._scratch = [self._worker_scratch(n, rows, dtype) for _ in range(compute_threads())]
        self._views, self._plans = {}, {}
        return (F, *g.out)

    def _worker_scratch(self, n: int, rows: int, dtype) -> dict[str, np.ndarray]:
        """One worker's scratch arrays for chunks of up to ``n`` samples.

        What is never written keeps these first contents: the zero border of the padded input,
        the zero extra columns of dy, the ones row and the unused tail of the im2col matrix
        (finite, so that dy's zero columns multiply it to zero), the columns of the im2col
        gradients past the extended grid.
        """
        g, F, K = self._g, self.filters, self._g.taps
        cols = np.zeros((n, rows, g.grid), dtype)
        cols[:, K:] = 1
        return {
            "padded": np.zeros((n, g.channels, *g.padded), dtype),
            "cols": cols,
            "dy": np.zeros((n, F, g.out[0], g.padded[1]), dtype),
            "grads": np.empty((n, rows, F), dtype),
            "dcols": np.zeros(K * n * g.block, dtype),
            "dx_padded": np.empty(g.channels * n * g.stride * g.block, dtype),
        }

    def __getstate__(self) -> dict:
        """Everything but the views, which a copy or a pickle would turn into arrays apart from the scratch they
        view (a copied layer would then write its input where its im2col no longer reads): made again on use."""
        return {field.name: getattr(self, field.name) for field in attrs.fields(type(self))} | {
            "_views": {},
            "_plans": {},
        }

    def __setstate__(self, state: dict) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    def params(self):
        return self._params

    @property
    def zoo_threads(self) -> int:
        """The threads this layer computes on: training holds NumPy's BLAS at one thread when it is more."""
        return len(self._scratch)

    def multiply_adds(self):
        return self.filters * self._g.taps * self._g.out[0] * self._g.out[1]

    def _groups(self, total: int) -> list[list[tuple[int, slice, _Views]]]:
        """The chunks of a batch of ``total`` samples, dealt to the workers in turn: for each worker, its
        ``(chunk number, slice of the batch, its _Views)`` in batch order."""
        plan = self._plans.get(total)
        if plan is None:
            if len(self._plans) >= _PLANS_KEPT:
                self._plans.clear()
            plan = self._plans[total] = self._deal(total)
        return plan

    def _deal(self, total: int) -> list[list[tuple[int, slice, _Views]]]:
        """:meth:`_groups`, made."""
        workers = len(self._scratch)
        groups = [[] for _ in range(min(workers, -(-total // self._chunk)))]
        for i, start in enumerate(range(0, total, self._chunk)):
            n, worker = min(self._chunk, total - start), i % workers
            if (worker, n) not in self._views:
                self._views[worker, n] = _Views.of(self._g, self._scratch[worker], n)
            groups[worker].append((i, slice(start, start + n), self._views[worker, n]))
        return groups

    @staticmethod
    def _run(work, groups: list) -> None:
        """``work(group)`` for every group, the first in this thread and the others in the pool at once.

        Every chunk's arithmetic is the same whichever worker does it, and the weight gradient sums
        the chunks in one fixed order after they are done, so the results are the same bits for any
        number of workers.
        """
        if len(groups) == 1:
            work(groups[0])
            return
        futures = [_pool(len(groups)).submit(work, group) for group in groups[1:]]
        try:
            work(groups[0])
        finally:  # the others write into this layer's buffers too: wait for them whatever happened here
            for future in futures:
                future.result()

    def forward(self, x, training):
        """``(N, C, H, W) -> (N, filters, H', W')``, a view of a reused buffer whose rows are ``Wp`` long."""
        g, F, weights = self._g, self.filters, self._shared["weights"]
        weights[:, : g.taps] = self._params[0].value.reshape(F, g.taps)
        if self.bias:
            weights[:, g.taps] = self._params[1].value
        y = self._buffers.get("y", (len(x), F, g.grid), weights.dtype)

        def chunks(group):
            for _, part, v in group:
                np.copyto(v.image, x[part])
                np.copyto(v.cols_in, v.windows)
                np.matmul(weights, v.cols, out=y[part])

        self._run(chunks, self._groups(len(x)))
        self._x, self._fresh = x, True
        return y.reshape(len(x), F, g.out[0], g.padded[1])[..., : g.out[1]]

    def backward(self, dy, need_dx=True):
        g, F = self._g, self.filters
        weights = self._shared["weights_by_offset"]  # columns by kernel offset, then channel: as dcols's rows
        if need_dx:
            np.copyto(weights, self._params[0].value.transpose(0, 2, 3, 1))
        weights_t = weights.reshape(F, g.taps).T
        dx = self._buffers.get("dx", (len(dy), g.channels, *g.size), dy.dtype) if need_dx else None
        groups = self._groups(len(dy))
        count = sum(len(group) for group in groups)
        sums = self._buffers.get("chunk_grads", (count, *self._shared["grad"].shape), dy.dtype)
        fresh, self._fresh = self._fresh, False

        def chunks(group):
            # Each worker's last chunk first: its im2col matrices are still those forward made.
            for k, (i, part, v) in enumerate(reversed(group)):
                if not (fresh and k == 0):
                    np.copyto(v.image, self._x[part])
                    np.copyto(v.cols_in, v.windows)
                np.copyto(v.dy, dy[part])
                np.matmul(v.cols, v.dy_ext.transpose(0, 2, 1), out=v.grads)
                np.sum(v.grads, axis=0, out=sums[i])
                if need_dx:
                    np.matmul(weights_t, v.dy_ext, out=v.dcols)
                    v.dx_padded.fill(0)
                    for target, source in v.adds:  # col2im: one long add per kernel offset
                        np.add(target, source, out=target)
                    np.copyto(dx[part], v.dx_interior)

        self._run(chunks, groups)
        grad = self._shared["grad"]
        grad.fill(0)
        for i in range(count - 1, -1, -1):  # last chunk first, whatever the workers
            grad += sums[i]
        np.copyto(self._params[0].grad.reshape(F, g.taps), grad[: g.taps].T)
        if self.bias:
            np.copyto(self._params[1].grad, grad[g.taps])
        return dx

    def to_onnx(self, graph, x):
        """``Conv`` with the padding build worked out: ``"same"``'s odd zero after (below, right), as pads allow."""
        g = self._g
        bottom, right = g.padded[0] - g.size[0] - g.top, g.padded[1] - g.size[1] - g.left
        inputs = [x, *(graph.constant(p.name, p.value) for p in self._params)]  # W (F, C, kh, kw), then b if any
        return graph.node(
            "Conv", inputs, kernel_shape=list(g.kernel), strides=[g.stride] * 2, pads=[g.top, g.left, bottom, right]
        )


@zoo.hookimpl
def register_layers(register):
    register("conv2d", Conv2D)
