"""Numerical gradients by central differences, and how far an analytic gradient is from one."""

from collections.abc import Callable

import numpy as np

EPS = 1e-6
"""Central-difference step, in float64."""
TOLERANCE = 1e-6
"""Allowed ``max|analytic - numeric| / max|gradient|``; a correct float64 gradient is at about 1e-9."""


def numeric_gradient(f: Callable[[], float], array: np.ndarray) -> np.ndarray:
    """Central differences of the scalar ``f()`` with respect to ``array``, which is perturbed in place and restored."""
    grad = np.zeros(array.shape)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + EPS
        plus = f()
        array[index] = saved - EPS
        minus = f()
        array[index] = saved
        grad[index] = (plus - minus) / (2 * EPS)
    return grad


def gradient_error(analytic: object, numeric: np.ndarray) -> str | None:
    """Why ``analytic`` is not the gradient ``numeric`` (shape, finiteness or size of the difference), or None."""
    if not isinstance(analytic, np.ndarray):
        return f"it is {type(analytic).__name__}, not an array"
    if analytic.shape != numeric.shape:
        return f"its shape is {analytic.shape}, expected {numeric.shape}"
    if not np.all(np.isfinite(analytic)):
        return "it is not finite"
    scale = max(float(np.abs(numeric).max(initial=0)), float(np.abs(analytic).max(initial=0)), 1e-12)
    error = float(np.abs(analytic - numeric).max(initial=0)) / scale
    if error > TOLERANCE:
        return (
            f"it differs from central differences by {error:.2e} of the gradient's size (tolerance {TOLERANCE:.0e}); "
            f"largest analytic {np.abs(analytic).max():.3g}, numeric {np.abs(numeric).max():.3g}"
        )
    return None


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    """``max|a - b|`` relative to the larger of ``max|b|`` and 1e-12, in float64."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max(initial=0)) / max(float(np.abs(b).max(initial=0)), 1e-12)
