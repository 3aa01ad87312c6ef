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
    """Rotate each image by a uniform angle in ±``max_degrees`` and shift it by up to ±``max_shift`` pixels per axis."""

    max_degrees: float = attrs.field(default=0.0, validator=number(ge=0, le=180))
    max_shift: float = attrs.field(default=0.0, validator=number(ge=0))
    _buffers: Buffers = attrs.field(init=False, factory=Buffers)

    def __call__(self, images, rng):
        n, height, width = images.shape
        angle = np.deg2rad(rng.uniform(-self.max_degrees, self.max_degrees, size=n))
        shift = rng.uniform(-self.max_shift, self.max_shift, size=(2, n))
        # Output pixel p samples input pixel R(-angle)·(p - centre - shift) + centre.
        rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
        rows = rows[None] - (height - 1) / 2 - shift[0, :, None, None]
        cols = cols[None] - (width - 1) / 2 - shift[1, :, None, None]
        cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
        coords = self._buffers.get("coords", (3, n, height, width), np.float64)
        coords[0] = np.arange(n)[:, None, None]
        coords[1] = cos * rows + sin * cols + (height - 1) / 2
        coords[2] = cos * cols - sin * rows + (width - 1) / 2
        out = self._buffers.get("out", images.shape, images.dtype)
        ndimage.map_coordinates(images, coords, output=out, order=1, mode="constant", cval=0.0)
        return out


@zoo.hookimpl
def register_augmenters(register):
    register("shift", lambda max_pixels=2.0: Affine(max_shift=max_pixels))
    register("rotate", lambda max_degrees=10.0: Affine(max_degrees=max_degrees))
    register("affine", Affine)
