"""``check_initialiser``: shapes, dtypes, seeded draws from the given Generator only, and the claimed scale."""

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from zoo.catalog import Catalog
from zoo.testing.core import Subject, global_random_state_untouched

SHAPES = ((7,), (6, 5), (3, 4, 2))
FAN_IN, FAN_OUT = 784, 512
"""The draw whose mean and standard deviation are compared with the claims: ``(FAN_IN, FAN_OUT)`` values."""
STANDARD_ERRORS = 5.0
"""How far, in standard errors, a sample mean or std may be from its claim (a correct one fails about once in 10^6)."""

Claim = float | Callable[[int, int], float] | None


def check_initialiser(
    name: str,
    options: dict[str, Any] | None = None,
    *,
    catalog: Catalog | None = None,
    std: Claim = None,
    mean: Claim = None,
) -> None:
    """Check the initialiser ``name`` made with ``options``; raise ConformanceError on the first failure.

    - For shapes (7,), (6, 5) and (3, 4, 2), in float32 and float64: a finite array of exactly
      that shape and dtype.
    - The same seed gives the same values; the values come from the Generator passed in and
      nothing else: numpy's global random state is untouched, and an initialiser that ignores
      its Generator may only return values that do not look random (few distinct values,
      like zeros or a constant), since otherwise it would ignore the entry's seed.
    - ``std`` and ``mean``, when given, are the scale it claims: numbers, or functions of
      ``(fan_in, fan_out)`` such as ``lambda fan_in, fan_out: (2 / fan_in) ** 0.5``. On a
      784 x 512 draw (fan_in 784, fan_out 512) the sample std and mean must be within
      five standard errors of them.
    """
    subject = Subject.resolve("initialiser", name, options, catalog)
    with global_random_state_untouched(subject, "the random state check"):
        init = subject.make()
        _check_draws(subject, init)
        _check_claims(subject, init, std, mean)


def _draw(subject: Subject, init: Callable, shape: tuple, dtype: type, rng: np.random.Generator) -> np.ndarray:
    fan_in, fan_out = (shape[0], shape[-1]) if len(shape) > 1 else (shape[0], shape[0])
    values = init(shape, fan_in, fan_out, rng, np.dtype(dtype))
    if not isinstance(values, np.ndarray) or values.shape != shape or values.dtype != dtype:
        got = f"{values.dtype}{list(values.shape)}" if isinstance(values, np.ndarray) else type(values).__name__
        raise subject.fail("the shape check", f"asked for {np.dtype(dtype)}{list(shape)} it returned {got}")
    if not np.all(np.isfinite(values)):
        raise subject.fail("the shape check", f"its {np.dtype(dtype)}{list(shape)} values are not all finite")
    return values


def _check_draws(subject: Subject, init: Callable) -> None:
    check = "the seeded determinism check"
    for shape in SHAPES:
        for dtype in (np.float32, np.float64):
            rng = np.random.default_rng(0)
            first = _draw(subject, init, shape, dtype, rng)
            used = rng.bit_generator.state != np.random.default_rng(0).bit_generator.state
            if not np.array_equal(first, _draw(subject, init, shape, dtype, np.random.default_rng(0))):
                raise subject.fail(check, f"two {list(shape)} draws from the same seed differ")
            other = _draw(subject, init, shape, dtype, np.random.default_rng(1))
            distinct = len(np.unique(first))
            if not used and np.array_equal(first, other) and distinct > first.size // 2:
                raise subject.fail(
                    check,
                    f"it never draws from the Generator it is given, yet its values look random ({distinct} "
                    f"distinct among {first.size}): it ignores the entry's seed",
                )


def _check_claims(subject: Subject, init: Callable, std: Claim, mean: Claim) -> None:
    if std is None and mean is None:
        return
    values = _draw(subject, init, (FAN_IN, FAN_OUT), np.float64, np.random.default_rng(4))
    n = values.size
    sample_mean, sample_std = float(values.mean()), float(values.std())
    fourth = float(np.mean((values - sample_mean) ** 4))
    errors = {
        "mean": sample_std / math.sqrt(n),
        # Delta method: the standard error of a sample std, from the sample's fourth central moment.
        "std": math.sqrt(max(fourth - sample_std**4, 0.0) / (4 * n)) / max(sample_std, 1e-300),
    }
    for what, claim, sample in (("std", std, sample_std), ("mean", mean, sample_mean)):
        if claim is None:
            continue
        claimed = float(claim(FAN_IN, FAN_OUT) if callable(claim) else claim)
        allowed = STANDARD_ERRORS * errors[what] + 1e-9 * max(abs(claimed), sample_std)
        if not abs(sample - claimed) <= allowed:
            raise subject.fail(
                f"the {what} check",
                f"on a {FAN_IN} x {FAN_OUT} draw (fan_in {FAN_IN}, fan_out {FAN_OUT}) the sample {what} is "
                f"{sample:.6g}, claimed {claimed:.6g}: off by {abs(sample - claimed) / max(errors[what], 1e-300):.1f} "
                f"standard errors (allowed {STANDARD_ERRORS:g})",
            )
