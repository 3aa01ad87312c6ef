"""attrs validators for plugin options, with messages that name the option and what it expected.

Registry values arrive from TOML, so a plugin's options are checked the moment an
entry loads: ``lr: float = attrs.field(default=0.01, validator=number(gt=0))``
rejects ``lr = "fast"`` with ``'lr' must be a finite number > 0, got 'fast'``. There are
validators for numbers (:func:`number`, :func:`optional_number`), booleans (:func:`boolean`),
strings (:func:`string`), choices (:func:`choice`) and arrays (:func:`list_of`).

attrs' own validators raise errors whose text is a tuple (``instance_of`` and ``in_`` pass
the attribute and the value along as arguments): :func:`option_error` turns them, and
any other error a factory raises, into one line of the same kind.
"""

import math
import operator
import re
from collections.abc import Callable
from typing import Any

import attrs

from zoo.errors import did_you_mean, one_line

Validator = Callable[[Any, "attrs.Attribute", Any], None]
"""What attrs calls with ``(instance, attribute, value)``; it raises when ``value`` is refused."""

_BOUNDS = {"gt": (operator.gt, ">"), "ge": (operator.ge, ">="), "lt": (operator.lt, "<"), "le": (operator.le, "<=")}


def number(integer: bool = False, **bounds: float) -> Validator:
    """Validator: an int (or, unless ``integer``, a finite float), never a bool, within ``gt``/``ge``/``lt``/``le``."""
    kinds = (int,) if integer else (int, float)
    limits = " and ".join(f"{_BOUNDS[k][1]} {v}" for k, v in bounds.items())
    what = ("an integer" if integer else "a finite number") + (f" {limits}" if limits else "")

    def validate(instance, attribute, value):
        ok = isinstance(value, kinds) and not isinstance(value, bool) and _finite(value)
        if not ok or not all(_BOUNDS[k][0](value, v) for k, v in bounds.items()):
            raise ValueError(f"{_key(attribute)!r} must be {what}, got {value!r}")

    return validate


def _key(attribute: attrs.Attribute) -> str:
    """The option's name as entries write it: attrs drops a private field's leading underscore."""
    return attribute.alias or attribute.name


def _finite(value: int | float) -> bool:
    """Finite as a float: TOML and JSON integers have no size limit, and one beyond a float's range is refused."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def optional_number(integer: bool = False, **bounds: float) -> Validator:
    """Like :func:`number`, but ``None`` is accepted too."""
    check = number(integer, **bounds)

    def validate(instance, attribute, value):
        if value is not None:
            check(instance, attribute, value)

    return validate


def boolean(instance, attribute, value) -> None:
    """Validator: ``true`` or ``false`` (not ``1`` or ``"yes"``)."""
    if not isinstance(value, bool):
        raise ValueError(f"{_key(attribute)!r} must be true or false, got {value!r}")


def string(instance, attribute, value) -> None:
    """Validator: a string."""
    if not isinstance(value, str):
        raise ValueError(f"{_key(attribute)!r} must be a string, got {value!r}")


def choice(*choices: Any) -> Validator:
    """Validator: one of ``choices``, of the same type too (``1`` is not ``true``); misspelt strings get suggestions."""
    listed = ", ".join(map(repr, choices))

    def validate(instance, attribute, value):
        if not any(type(value) is type(c) and value == c for c in choices):
            hint = did_you_mean(value, [c for c in choices if isinstance(c, str)]) if isinstance(value, str) else ""
            raise ValueError(f"{_key(attribute)!r} must be one of {listed}, got {value!r}{hint}")

    return validate


def list_of(item: Validator | None = None, *, min_len: int = 0, max_len: int | None = None) -> Validator:
    """Validator: an array (a list, or a tuple from Python) of ``min_len`` to ``max_len`` items, each passing ``item``.

    An item is checked under the key path of its index, so a bad one is reported as
    ``'sizes.1' must be an integer > 0, got 0``, as ``--set`` would reach it.
    """
    what = "an array" + _length(min_len, max_len)

    def validate(instance, attribute, value):
        is_array = isinstance(value, (list, tuple))
        if not is_array or len(value) < min_len or (max_len is not None and len(value) > max_len):
            raise ValueError(f"{_key(attribute)!r} must be {what}, got {value!r}")
        if item is not None:
            for i, member in enumerate(value):
                name = f"{_key(attribute)}.{i}"
                item(instance, attribute.evolve(name=name, alias=name), member)

    return validate


def _length(low: int, high: int | None) -> str:
    if high is None:
        return f" of at least {low} items" if low else ""
    if not low:
        return f" of at most {high} items"
    return f" of exactly {high} items" if low == high else f" of {low} to {high} items"


def option_error(error: Exception) -> str:
    """The one-line text of an error a plugin factory raised for its options.

    attrs' validators raise ``(message, attribute, expected, value)``: ``instance_of`` and
    ``in_`` are said in TOML's words (``'decay' must be true or false, got 1``); any other
    error with several arguments gives its message, the first; one with a text of its own
    keeps it.
    """
    args = error.args
    if len(args) < 2 or type(error).__str__ is not BaseException.__str__ or not isinstance(args[0], str):
        return one_line(error)
    if len(args) == 4 and isinstance(args[1], attrs.Attribute):
        name, expected, value = args[1].alias or args[1].name, args[2], args[3]
        if isinstance(error, TypeError) and _is_types(expected):
            return f"{name!r} must be {_kinds(expected)}, got {value!r}"
        if isinstance(error, ValueError) and isinstance(expected, re.Pattern):
            return f"{name!r} must be a string matching {expected.pattern!r}, got {value!r}"
        if isinstance(error, ValueError) and isinstance(expected, (list, tuple, set, frozenset, dict, range)):
            hint = did_you_mean(value, [c for c in expected if isinstance(c, str)]) if isinstance(value, str) else ""
            return f"{name!r} must be one of {', '.join(map(repr, expected))}, got {value!r}{hint}"
    return " ".join(args[0].split())


_KIND_WORDS = {
    bool: "true or false",
    int: "an integer",
    float: "a number with a decimal point, such as 1.0",
    str: "a string",
    list: "an array",
    dict: "a table",
}
"""What a TOML author writes for each Python type."""


def _is_types(expected: Any) -> bool:
    return isinstance(expected, type) or (isinstance(expected, tuple) and all(isinstance(t, type) for t in expected))


def _kinds(expected: type | tuple[type, ...]) -> str:
    types = set(expected if isinstance(expected, tuple) else (expected,))
    if {int, float} <= types:  # int or float: any number
        types -= {int, float}
        words = ["a number"]
    else:
        words = []
    words += [_KIND_WORDS.get(t, f"of type {t.__name__}") for t in sorted(types, key=lambda t: t.__name__)]
    return " or ".join(words)
