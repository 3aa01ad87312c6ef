"""Built-in augmenters: random shifts, rotations and elastic distortions, resampled bilinearly
(:mod:`zoo_builtins.resampling`, the arithmetic of SciPy's ``map_coordinates``), and random horizontal flips.

Each image gets its own random transform, but the whole batch is resampled at once (zeros
outside), so there is no Python loop over images. Bilinear interpolation of values in [0, 1]
stays in [0, 1]; labels are untouched.
"""

import attrs
import numpy as np
from scipy import ndimage
from zoo_builtins.resampling import Bilinear

import zoo
from zoo.layers import Buffers
from zoo.options import number


@attrs.define(eq=False)
class Affine:
    """Rotate each image by a uniform angle in ±``max_degrees`` and shift it by up to ±``max_shift`` pixels per axis;
    with ``max_scale`` m, also scale it about its centre by a uniform factor in [1 − m, 1 + m].

    The batch ``(N, H, W)`` is laid out as one tall image of N frames, each framed by a
    row and column of zeros, so a single 2-D bilinear resampling serves every image and
    no image bleeds into its neighbour.
    """

    max_degrees: float = attrs.field(default=0.0, validator=number(ge=0, le=180))
    max_shift: float = attrs.field(default=0.0, validator=number(ge=0))
    max_scale: float = attrs.field(default=0.0, validator=number(ge=0, lt=1))
    _buffers: Buffers = attrs.field(init=False, factory=Buffers)
    _resample: Bilinear = attrs.field(init=False, factory=Bilinear)
    _source: np.ndarray | None = attrs.field(init=False, default=None)

    def __call__(self, images, rng):
        n, height, width = images.shape
        centre_rows, centre_cols = (height - 1) / 2, (width - 1) / 2
        # Per image: the rotation, the scale, and the shift seen from the rotated frame. Output pixel p
        # samples input pixel R(-angle)·(p - centre - shift) / scale + centre.
        angle = rng.uniform(-np.deg2rad(self.max_degrees), np.deg2rad(self.max_degrees), size=n)
        shift = rng.uniform(-self.max_shift, self.max_shift, size=(2, n))
        cos, sin, back_rows, back_cols = (
            self._buffers.get(key, (n,), np.float64) for key in ("cos", "sin", "br", "bc")
        )
        np.cos(angle, out=cos)
        np.sin(angle, out=sin)
        if self.max_scale:  # drawn last and only then: entries without it keep their draws and their bits
            inverse = np.reciprocal(rng.uniform(1 - self.max_scale, 1 + self.max_scale, size=n))
            cos *= inverse
            sin *= inverse
        np.multiply(cos, shift[0], out=back_rows)
        back_rows += np.multiply(sin, shift[1], out=angle)
        np.multiply(cos, shift[1], out=back_cols)
        back_cols -= np.multiply(sin, shift[0], out=angle)
        cos, sin, back_rows, back_cols = (a[:, None, None] for a in (cos, sin, back_rows, back_cols))

        if self._source is None or self._source.shape[1] < n or self._source.shape[2:] != (height, width):
            self._source = np.empty((2, n, height, width))  # (rows, cols) of the sampled points
        source = self._source[:, :n]  # strided for a smaller batch, which the resampling reads as is
        r, c = source
        scratch = self._buffers.get("scratch", (n, height, width), np.float64)
        rows = self._grid("rows", height, centre_rows)[:, None]
        cols = self._grid("cols", width, centre_cols)[None, :]
        np.multiply(cos, rows, out=r)
        np.multiply(sin, cols, out=scratch)
        r += scratch
        r -= back_rows
        np.multiply(cos, cols, out=c)
        np.multiply(sin, rows, out=scratch)
        c -= scratch
        c -= back_cols
        # Points beyond the frame of zeros read the frame; then move to each image's place in the tall image.
        np.clip(r, -centre_rows - 1, centre_rows + 1, out=r)
        np.clip(c, -centre_cols - 1, centre_cols + 1, out=c)
        tops = self._buffers.get("tops", (n, 1, 1), np.float64)
        np.multiply(self._buffers.arange(n)[:, None, None], height + 2, out=tops)
        r += tops + (centre_rows + 1)
        c += centre_cols + 1

        return _resample_framed(images, source, self._buffers, self._resample)

    def _grid(self, key, size, centre):
        """Pixel positions ``0 .. size-1`` relative to the centre."""
        grid = self._buffers.get(key, (size,), np.float64)
        np.subtract(self._buffers.arange(size), centre, out=grid)
        return grid


@attrs.define(eq=False)
class Elastic:
    """Elastic distortion (Simard et al. 2003): each image warped by its own smooth random displacement field.

    Per image and axis, a field of uniform noise in [-1, 1] is smoothed by a Gaussian of
    standard deviation ``sigma`` pixels (zeros beyond the border) and scaled by ``alpha``;
    output pixel ``p`` samples input pixel ``p + field(p)``. A larger ``sigma`` makes the
    warp smoother (and, for a fixed ``alpha``, smaller); Simard used ``sigma = 4``, ``alpha = 34``.
    """

    alpha: float = attrs.field(default=34.0, validator=number(ge=0))
    sigma: float = attrs.field(default=4.0, validator=number(gt=0))
    _smoothers: dict = attrs.field(init=False, factory=dict)
    _buffers: Buffers = attrs.field(init=False, factory=Buffers)
    _resample: Bilinear = attrs.field(init=False, factory=Bilinear)

    def __call__(self, images, rng):
        n, height, width = images.shape
        noise = self._buffers.get("noise", (2 * n, height, width), np.float64)
        rng.random(out=noise)
        noise *= 2.0
        noise -= 1.0
        # The rows and the columns fields of every image, smoothed along each axis in turn.
        half = self._buffers.get("half", noise.shape, np.float64)
        np.matmul(self._smoother(height), noise, out=half)
        field = self._buffers.get("field", noise.shape, np.float64)
        np.matmul(half.reshape(-1, width), self._smoother(width).T, out=field.reshape(-1, width))
        field *= self.alpha
        r, c = source = field.reshape(2, n, height, width)
        # Source points, clipped to the frame of zeros around each image, then placed in the tall image.
        r += self._buffers.arange(height)[:, None]
        c += self._buffers.arange(width)[None, :]
        np.clip(r, -1, height, out=r)
        np.clip(c, -1, width, out=c)
        tops = self._buffers.get("tops", (n, 1, 1), np.float64)
        np.multiply(self._buffers.arange(n)[:, None, None], height + 2, out=tops)
        tops += 1
        r += tops
        c += 1
        return _resample_framed(images, source, self._buffers, self._resample)

    def _smoother(self, size):
        """``(size, size)`` matrix ``G`` with ``G @ x`` = ``gaussian_filter1d(x, sigma, axis=0, mode="constant")``.

        Smoothing is linear, so two small matrix products per batch give exactly what
        ``gaussian_filter`` with sigma ``(0, sigma, sigma)`` gives, about ten times faster.
        """
        if size not in self._smoothers:
            self._smoothers[size] = ndimage.gaussian_filter1d(np.eye(size), self.sigma, axis=0, mode="constant")
        return self._smoothers[size]


def _resample_framed(images, source, buffers, resample: Bilinear):
    """Bilinear samples of ``images`` ``(N, H, W)`` at ``source`` ``(2, N, H, W)``, in tall-image coordinates.

    The images are stacked as one tall image of N frames, each framed by a row and column of
    zeros; ``source`` holds (row, column) points in it that stay within each image's frame.
    """
    n, height, width = images.shape
    framed = buffers.get("framed", (n, height + 2, width + 2), images.dtype)
    framed[:, 1:-1, 1:-1] = images
    framed[:, 0], framed[:, -1], framed[:, :, 0], framed[:, :, -1] = 0, 0, 0, 0
    out = buffers.get("out", images.shape, images.dtype)
    resample(framed.reshape(n * (height + 2), width + 2), source, out)
    return out


@attrs.define(eq=False)
class Shift:
    """Shift each image by up to ±``max_pixels`` along each axis."""

    max_pixels: float = attrs.field(default=2.0, validator=number(ge=0))
    _affine: Affine = attrs.field(init=False)

    def __attrs_post_init__(self):
        self._affine = Affine(max_shift=self.max_pixels)

    def __call__(self, images, rng):
        return self._affine(images, rng)


@attrs.define(eq=False)
class Rotate:
    """Rotate each image by up to ±``max_degrees``."""

    max_degrees: float = attrs.field(default=10.0, validator=number(ge=0, le=180))
    _affine: Affine = attrs.field(init=False)

    def __attrs_post_init__(self):
        self._affine = Affine(max_degrees=self.max_degrees)

    def __call__(self, images, rng):
        return self._affine(images, rng)


@attrs.define(eq=False)
class Flip:
    """Mirror each image left to right with probability ``probability``, in place.

    For datasets whose classes look the same mirrored (Fashion-MNIST's clothes), not for
    digits: the kit's digit check (``check_augmenter(..., digits=None)`` skips it) would fail.
    """

    probability: float = attrs.field(default=0.5, validator=number(ge=0, le=1))
    _buffers: Buffers = attrs.field(init=False, factory=Buffers)

    def __call__(self, images, rng):
        chosen = np.flatnonzero(rng.random(len(images)) < self.probability)
        picked = self._buffers.get("picked", (len(chosen), *images.shape[1:]), images.dtype)
        np.take(images, chosen, axis=0, out=picked)
        images[chosen] = picked[:, :, ::-1]
        return images


@zoo.hookimpl
def register_augmenters(register):
    register("shift", Shift)
    register("rotate", Rotate)
    register("affine", Affine)
    register("elastic", Elastic)
    register("flip", Flip)
