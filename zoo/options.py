"""attrs validators for plugin options, with messages that name the option and what it expected.

Registry values arrive from TOML, so a plugin's options are checked the moment an
entry loads: ``lr: float = attrs.field(default=0.01, validator=number(gt=0))``
rejects ``lr = "fast"`` with ``'lr' must be a number > 0, got 'fast'``.
"""

import math
import operator

_BOUNDS = {"gt": (operator.gt, ">"), "ge": (operator.ge, ">="), "lt": (operator.lt, "<"), "le": (operator.le, "<=")}


def number(integer: bool = False, **bounds: float):
    """Validator: an int (or, unless ``integer``, a finite float), never a bool, within ``gt``/``ge``/``lt``/``le``."""
    kinds = (int,) if integer else (int, float)
    limits = " and ".join(f"{_BOUNDS[k][1]} {v}" for k, v in bounds.items())
    what = ("an integer" if integer else "a finite number") + (f" {limits}" if limits else "")

    def validate(instance, attribute, value):
        ok = isinstance(value, kinds) and not isinstance(value, bool) and _finite(value)
        if not ok or not all(_BOUNDS[k][0](value, v) for k, v in bounds.items()):
            raise ValueError(f"{attribute.name!r} must be {what}, got {value!r}")

    return validate


def _finite(value: int | float) -> bool:
    """Finite as a float: TOML and JSON integers have no size limit, and one beyond a float's range is refused."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def optional_number(integer: bool = False, **bounds: float):
    """Like :func:`number`, but ``None`` is accepted too."""
    check = number(integer, **bounds)

    def validate(instance, attribute, value):
        if value is not None:
            check(instance, attribute, value)

    return validate


def boolean(instance, attribute, value):
    """Validator: ``true`` or ``false``."""
    if not isinstance(value, bool):
        raise ValueError(f"{attribute.name!r} must be true or false, got {value!r}")
