"""Orthogonal initialisation (Saxe et al. 2014): weight matrices with orthonormal rows or columns."""

import math

import attrs
import numpy as np

import zoo
from zoo.options import number


@attrs.frozen
class Orthogonal:
    """A uniformly random orthogonal matrix times ``gain``.

    The array is viewed as a matrix ``(shape[0], rest)``, a 1-D shape as one row. Its
    columns are orthonormal if it is tall, its rows if it is wide, so the entries have
    mean 0 and root mean square exactly ``gain / sqrt(max(rows, cols))``: for a dense
    weight ``(fan_in, fan_out)``, ``gain / sqrt(max(fan_in, fan_out))``. ``gain = sqrt(2)``
    suits ReLU-like layers. Drawn in float64, then cast.
    """

    gain: float = attrs.field(default=1.0, validator=number(gt=0))

    def __call__(self, shape, fan_in, fan_out, rng, dtype):
        rows = shape[0] if len(shape) > 1 else 1
        cols = math.prod(shape) // rows
        tall = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(tall)
        q *= np.sign(np.diag(r))  # QR's sign convention would bias the draw; this makes it uniform (Haar)
        matrix = q if rows >= cols else q.T
        return (self.gain * matrix).reshape(shape).astype(dtype)


@zoo.hookimpl
def register_initialisers(register):
    register("orthogonal", Orthogonal)
