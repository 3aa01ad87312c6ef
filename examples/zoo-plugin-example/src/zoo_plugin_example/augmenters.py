"""Random erasing (Zhong et al. 2020): blank out one random rectangle in some of the training images.

The rectangles of a whole batch are drawn at once and applied as one mask made from
per-image row and column ranges, so there is no Python loop over images; every array
lives in buffers reused from batch to batch.
"""

import math

import attrs
import numpy as np

import zoo
from zoo.layers import Buffers
from zoo.options import number


@attrs.define(eq=False)
class RandomErasing:
    """With probability ``probability``, fill one rectangle of each image with ``value``.

    The rectangle covers a uniform fraction in [``min_area``, ``max_area``] of the image,
    with aspect ratio (height / width) log-uniform in [``min_aspect``, 1 / ``min_aspect``],
    at a uniform position inside the image. The batch ``(N, H, W)`` is left as it is: the
    result is a buffer reused on the next call.
    """

    probability: float = attrs.field(default=0.5, validator=number(ge=0, le=1))
    min_area: float = attrs.field(default=0.02, validator=number(gt=0, le=1))
    max_area: float = attrs.field(default=0.2, validator=number(gt=0, le=1))
    min_aspect: float = attrs.field(default=0.3, validator=number(gt=0, le=1))
    value: float = attrs.field(default=0.0, validator=number(ge=0, le=1))
    _buffers: Buffers = attrs.field(init=False, factory=Buffers)

    def __attrs_post_init__(self):
        if self.min_area > self.max_area:
            raise ValueError(f"random_erasing needs min_area <= max_area, got {self.min_area} > {self.max_area}")

    def __call__(self, images, rng):
        n, height, width = images.shape
        draws = self._buffers.get("draws", (n, 5), np.float64)
        rng.random(out=draws)
        erase, area, aspect, top, left = draws.T  # per image: erase?, area, aspect, position
        area *= (self.max_area - self.min_area) * height * width
        area += self.min_area * height * width
        aspect *= -2 * math.log(self.min_aspect)
        aspect += math.log(self.min_aspect)
        np.exp(aspect, out=aspect)
        rows = self._side("rows", area, aspect, np.multiply, height)
        cols = self._side("cols", area, aspect, np.divide, width)
        keep = self._buffers.get("keep", (n,), np.bool_)
        rows *= np.less(erase, self.probability, out=keep)  # an image left alone gets no rows
        row_mask = self._range("row_mask", top, rows, height)
        col_mask = self._range("col_mask", left, cols, width)
        mask = self._buffers.get("mask", images.shape, np.bool_)
        np.logical_and(row_mask[:, :, None], col_mask[:, None, :], out=mask)
        out = self._buffers.get("out", images.shape, images.dtype)
        np.copyto(out, images)
        np.copyto(out, images.dtype.type(self.value), where=mask)
        return out

    def _side(self, key, area, aspect, combine, limit):
        """``round(sqrt(area·aspect))`` (or ``area / aspect``), within 1 .. ``limit``: a side length per image."""
        side = self._buffers.get(key, area.shape, np.float64)
        combine(area, aspect, out=side)
        np.sqrt(side, out=side)
        np.rint(side, out=side)
        return np.clip(side, 1, limit, out=side)

    def _range(self, key, start, length, size):
        """``(N, size)`` mask of ``start .. start+length-1``, ``start`` given as a uniform [0, 1) draw (overwritten)."""
        start *= size + 1 - length  # every position that keeps the side inside the image
        np.floor(start, out=start)
        end = self._buffers.get(key + "_end", start.shape, np.float64)
        np.add(start, length, out=end)
        positions = self._buffers.arange(size)
        mask = self._buffers.get(key, (len(start), size), np.bool_)
        below = self._buffers.get(key + "_below", (len(start), size), np.bool_)
        np.greater_equal(positions, start[:, None], out=mask)
        mask &= np.less(positions, end[:, None], out=below)
        return mask


@zoo.hookimpl
def register_augmenters(register):
    register("random_erasing", RandomErasing)
