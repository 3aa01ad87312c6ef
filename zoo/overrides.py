"""Overrides given as Python values: ``{"train.epochs": 3}`` as the ``--set`` strings every command validates.

Writing values as TOML text, rather than applying them directly, gives Python callers exactly
the path, the checks and the error messages of ``--set`` on the command line.
"""

import json
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

from zoo.errors import ConfigError

Overrides = Mapping[str, Any] | Iterable[str] | None
"""``{"train.epochs": 3}``, or ``--set`` strings such as ``["train.epochs=3"]``, or None."""


def as_overrides(overrides: Overrides) -> list[str]:
    """``--set`` strings from ``{"train.epochs": 3}`` or from a list of ``KEY=VALUE`` strings (or None)."""
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        return list(overrides_for(dict(overrides)))
    if isinstance(overrides, str):
        raise ConfigError(f"set= takes a dict or a list of KEY=VALUE strings, not the string {overrides!r}")
    return [str(item) for item in overrides]


def overrides_for(setting: dict[str, Any]) -> tuple[str, ...]:
    """``--set`` overrides for a setting (values written as TOML; ``a+b`` keys set each of ``a`` and ``b``)."""
    return tuple(f"{key}={toml_value(value)}" for keys, value in setting.items() for key in keys.split("+"))


def toml_value(value: Any) -> str:
    """``value`` (a bool, number, string, or a list or dict of them; NumPy scalars too) as TOML text."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise ConfigError(f"{value!r}: not a value a setting can take (a bool, number, string, list or dict)")
