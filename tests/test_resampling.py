"""The augmenters' bilinear resampling gives exactly the bits of SciPy's ``map_coordinates(order=1)``.

zoo's augmented batches were made by ``map_coordinates`` until it was replaced by NumPy
arithmetic; seeded trainings (and the shipped weights' recorded runs) depend on every bit.
"""

import numpy as np
import pytest
from scipy import ndimage
from zoo_builtins.resampling import Bilinear


def framed_batch(rng, n, height, width, dtype):
    """A tall image of ``n`` frames with a border of zeros, as the augmenters lay batches out."""
    tall = np.zeros((n, height + 2, width + 2), dtype)
    tall[:, 1:-1, 1:-1] = rng.random((n, height, width))
    return tall.reshape(n * (height + 2), width + 2)


def points(rng, n, height, width, spread):
    """Random points within each frame, some on the frame's last row and column and some on whole pixels."""
    rows = rng.normal(0, spread, (n, height, width)) + np.arange(height)[:, None]
    cols = rng.normal(0, spread, (n, height, width)) + np.arange(width)[None, :]
    source = np.stack([np.clip(rows, -1, height), np.clip(cols, -1, width)]) + 1
    source[0] += (height + 2) * np.arange(n)[:, None, None]
    flat = source.reshape(2, -1)
    flat[:, ::7] = np.round(flat[:, ::7])
    return source


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, height, width, spread", [(64, 28, 28, 3.0), (5, 7, 11, 20.0), (1, 1, 1, 1.0)])
def test_same_bits_as_map_coordinates(dtype, n, height, width, spread):
    rng = np.random.default_rng(0)
    tall = framed_batch(rng, n, height, width, dtype)
    source = points(rng, n, height, width, spread)
    expected = np.empty((n, height, width), dtype)
    ndimage.map_coordinates(tall, source, output=expected, order=1, mode="nearest")
    got = np.full_like(expected, np.nan)
    Bilinear()(tall, source, got)
    np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), expected.view(f"u{expected.itemsize}"))


def test_a_reused_resampler_gives_each_call_its_own_result():
    """Buffers sized for a large batch serve a smaller one (a view) and strided points."""
    rng = np.random.default_rng(1)
    resample = Bilinear()
    for n in (8, 3, 8):
        tall = framed_batch(rng, n, 6, 6, np.float32)
        source = points(rng, 2 * n, 6, 6, 2.0)[:, ::2]  # every other frame's points: not contiguous
        source[0] -= (6 + 2) * np.arange(n)[:, None, None]  # back into this batch's frames
        expected = np.empty((n, 6, 6), np.float32)
        ndimage.map_coordinates(tall, source, output=expected, order=1, mode="nearest")
        got = np.empty_like(expected)
        resample(tall, source, got)
        np.testing.assert_array_equal(got, expected)
