"""Built-in augmenters: random shifts and rotations, one ``scipy.ndimage.map_coordinates`` call per batch.

Each image gets its own random transform, but the whole batch is resampled at once
(bilinear, zeros outside), so there is no Python loop over images. Bilinear
interpolation of values in [0, 1] stays in [0, 1]; labels are untouched.
"""

import attrs
import numpy as np
from scipy import ndimage

import zoo
from zoo.layers import Buffers
from zoo.options import number


@attrs.define(eq=False)
class Affine:
    """Rotate each image by a uniform angle in ±``max_degrees`` and shift it by up to ±``max_shift`` pixels per axis.

    The batch ``(N, H, W)`` is laid out as one tall image of N frames, each framed by a
    row and column of zeros, so a single 2-D bilinear resampling serves every image and
    no image bleeds into its neighbour.
    """

    max_degrees: float = attrs.field(default=0.0, validator=number(ge=0, le=180))
    max_shift: float = attrs.field(default=0.0, validator=number(ge=0))
    _buffers: Buffers = attrs.field(init=False, factory=Buffers)
    _source: np.ndarray | None = attrs.field(init=False, default=None)

    def __call__(self, images, rng):
        n, height, width = images.shape
        angle = np.deg2rad(rng.uniform(-self.max_degrees, self.max_degrees, size=n))
        shift_rows, shift_cols = rng.uniform(-self.max_shift, self.max_shift, size=(2, n))
        cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
        centre_rows, centre_cols = (height - 1) / 2, (width - 1) / 2
        # Output pixel p samples input pixel R(-angle)·(p - centre - shift) + centre.
        rows, cols = np.arange(height, dtype=np.float64)[:, None], np.arange(width, dtype=np.float64)[None, :]
        if self._source is None or self._source.shape[1] != n:
            self._source = np.empty((2, n, height, width))  # (rows, cols) of the sampled points
        r, c = self._source
        scratch = self._buffers.get("scratch", (n, height, width), np.float64)
        np.multiply(cos, rows - centre_rows, out=r)
        np.multiply(sin, cols - centre_cols, out=scratch)
        r += scratch
        np.multiply(cos, cols - centre_cols, out=c)
        np.multiply(sin, rows - centre_rows, out=scratch)
        c -= scratch
        # Undo the shift after rotating back, move to framed coordinates, and stay inside the frame.
        r -= (cos[:, :, 0] * shift_rows[:, None] + sin[:, :, 0] * shift_cols[:, None])[:, :, None]
        c -= (cos[:, :, 0] * shift_cols[:, None] - sin[:, :, 0] * shift_rows[:, None])[:, :, None]
        np.clip(r, -centre_rows - 1, centre_rows + 1, out=r)
        np.clip(c, -centre_cols - 1, centre_cols + 1, out=c)
        r += (centre_rows + 1) + (height + 2) * np.arange(n)[:, None, None]
        c += centre_cols + 1
        framed = self._buffers.get("framed", (n, height + 2, width + 2), images.dtype)
        framed[:, 1:-1, 1:-1] = images
        framed[:, 0], framed[:, -1], framed[:, :, 0], framed[:, :, -1] = 0, 0, 0, 0
        out = self._buffers.get("out", images.shape, images.dtype)
        tall = framed.reshape(n * (height + 2), width + 2)
        ndimage.map_coordinates(tall, self._source, output=out, order=1, mode="nearest")
        return out


@zoo.hookimpl
def register_augmenters(register):
    register("shift", lambda max_pixels=2.0: Affine(max_shift=max_pixels))
    register("rotate", lambda max_degrees=10.0: Affine(max_degrees=max_degrees))
    register("affine", Affine)
