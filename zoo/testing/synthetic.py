"""Synthetic digit-like images, for checking augmenters where real MNIST is not at hand.

Each digit is a few pen strokes (lines and elliptic arcs) drawn with its own random slant,
rotation, scale, position and pen weight, then blurred: like MNIST, a white digit about 20
pixels tall centred on a black 28 x 28 square. Turned upside down or mirrored, most of them
read as no digit or another one (6 and 9 swap), as real digits do.
"""

import functools

import attrs
import numpy as np
from scipy import ndimage

SIZE = 28
CLASSES = 10
COUNT = 3000
"""Digits in a set: as many as the augmenter check takes."""


@attrs.frozen(eq=False)
class Digits:
    """``images`` ``(N, 28, 28)`` float32 in [0, 1] with their ``labels``, and where they came from."""

    images: np.ndarray
    labels: np.ndarray
    source: str


# Pen strokes of each digit in a box x in [-1, 1] (right), y in [-1.3, 1.3] (down); angles in degrees, 90 = down.
def _arc(cx, cy, rx, ry, start, stop):
    angles = np.deg2rad(np.linspace(start, stop, max(8, int(abs(stop - start) / 6))))
    return np.stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)], axis=1)


def _line(*points):
    return np.array(points, dtype=np.float64)


GLYPHS = {
    0: [_arc(0, 0, 0.75, 1.25, 0, 360)],
    1: [_line((-0.35, -0.85), (0.15, -1.3), (0.05, 1.3))],
    2: [np.concatenate([_arc(0, -0.6, 0.7, 0.65, 200, 380), _line((0.62, -0.3), (-0.8, 1.25), (0.85, 1.25))])],
    3: [_arc(0, -0.62, 0.65, 0.62, 200, 450), _arc(0, 0.6, 0.75, 0.68, 270, 520)],
    4: [_line((0.35, -1.3), (-0.85, 0.45), (0.85, 0.45)), _line((0.4, -0.5), (0.4, 1.3))],
    5: [np.concatenate([_line((0.75, -1.25), (-0.5, -1.25), (-0.6, -0.1)), _arc(0, 0.55, 0.75, 0.7, 240, 500)])],
    6: [np.concatenate([_arc(0.9, 0.3, 1.5, 1.55, 235, 180), _arc(0, 0.6, 0.65, 0.65, 180, 540)])],
    7: [_line((-0.8, -1.25), (0.85, -1.25), (-0.15, 1.3))],
    8: [_arc(0, -0.65, 0.6, 0.6, 90, 450), _arc(0, 0.62, 0.72, 0.66, -90, 270)],
    9: [_arc(0, -0.6, 0.65, 0.65, 0, 360), _line((0.62, -0.5), (0.45, 1.3))],
}


@functools.cache
def synthetic_digits(seed: int = 20261125) -> Digits:
    """``COUNT`` digits, balanced over the classes, each with its own slant, rotation, scale, position and pen."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(COUNT) % CLASSES)
    spots, weights = [], []
    for digit, strokes in GLYPHS.items():
        chosen = np.flatnonzero(labels == digit)
        points = np.concatenate([_densify(stroke) for stroke in strokes])
        _splat(chosen, _pose(points, len(chosen), rng), spots, weights)
    ink = np.bincount(np.concatenate(spots), np.concatenate(weights), minlength=COUNT * SIZE * SIZE)
    images = ndimage.gaussian_filter(ink.reshape(COUNT, SIZE, SIZE), (0, 1.0, 1.0))
    gain = rng.uniform(1.6, 2.6, size=(COUNT, 1, 1)) / np.maximum(images.max(axis=(1, 2), keepdims=True), 1e-12)
    return Digits(np.clip(images * gain, 0.0, 1.0).astype(np.float32), labels.astype(np.intp), "synthetic digits")


def _densify(polyline: np.ndarray, spacing: float = 0.08) -> np.ndarray:
    """Points every ``spacing`` units along a polyline."""
    segments = np.diff(polyline, axis=0)
    lengths = np.hypot(*segments.T)
    positions = np.arange(0.0, lengths.sum(), spacing)
    ends = np.concatenate([[0.0], np.cumsum(lengths)])
    index = np.clip(np.searchsorted(ends, positions, side="right") - 1, 0, len(segments) - 1)
    fraction = (positions - ends[index]) / np.maximum(lengths[index], 1e-12)
    return polyline[index] + fraction[:, None] * segments[index]


def _pose(points: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``(count, P, 2)``: the points ``(P, 2)`` in pixels after a random slant, rotation, scale and position each."""
    angle = np.deg2rad(rng.uniform(-8, 8, count))
    cos, sin = np.cos(angle), np.sin(angle)
    slant = rng.uniform(-0.35, 0.2, count)
    width, height = rng.uniform(0.6, 0.95, count), rng.uniform(0.75, 1.0, count)
    # rotation @ [[1, slant], [0, 1]] @ diag(width, height), written out per image.
    matrix = np.stack(
        [
            np.stack([cos * width, (cos * slant - sin) * height], axis=1),
            np.stack([sin * width, (sin * slant + cos) * height], axis=1),
        ],
        axis=1,
    )
    offset = (SIZE - 1) / 2 + rng.uniform(-1, 1, size=(count, 1, 2))
    return np.matmul(matrix, points.T).transpose(0, 2, 1) * 7.5 + offset


def _splat(images: np.ndarray, pixels: np.ndarray, spots: list, weights: list) -> None:
    """Append the flat positions and weights that draw ``pixels`` ``(len(images), P, 2)`` bilinearly into ``images``."""
    x, y = pixels[..., 0], pixels[..., 1]
    x0, y0 = np.floor(x).astype(np.intp), np.floor(y).astype(np.intp)
    fx, fy = x - x0, y - y0
    base = images[:, None] * (SIZE * SIZE)
    for dx, dy, weight in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        cx, cy = x0 + dx, y0 + dy
        inside = (cx >= 0) & (cx < SIZE) & (cy >= 0) & (cy < SIZE)
        spots.append((base + cy * SIZE + cx)[inside])
        weights.append(weight[inside])
