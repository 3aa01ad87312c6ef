"""What a plugin's factory fills in for the options an entry leaves out, so ``zoo show`` can print it.

A default is read from the factory's signature, or, for an attrs field written with
``factory=`` (which the signature shows as ``NOTHING``), made by calling that factory.
An initialiser default (an ``_init`` option) is a callable, shown by the registered
name that makes it.
"""

import functools
import inspect
from collections.abc import Callable
from typing import Any

import attrs

from zoo.catalog import Catalog

OPTION_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def option_defaults(factory: Callable[..., Any]) -> dict[str, Any]:
    """Each option of ``factory`` that has a default, mapped to the default's value, in the signature's order."""
    fields = _attrs_fields(factory)
    defaults = {}
    for name, parameter in inspect.signature(factory).parameters.items():
        if parameter.kind not in OPTION_KINDS or parameter.default is parameter.empty:
            continue
        default = parameter.default
        if default is attrs.NOTHING:  # an attrs field's factory=, made afresh for each object
            made_by = getattr(fields.get(name), "default", None)
            if not isinstance(made_by, attrs.Factory) or made_by.takes_self:
                continue
            default = made_by.factory()
        defaults[name] = default
    return defaults


def _attrs_fields(factory: Callable[..., Any]) -> dict[str, attrs.Attribute]:
    """The attrs fields of ``factory`` (an attrs class, or a partial of one) by option name; none otherwise."""
    while isinstance(factory, functools.partial):
        factory = factory.func
    if not (isinstance(factory, type) and attrs.has(factory)):
        return {}
    return {field.alias: field for field in attrs.fields(factory)}


def initialiser_name(init: Any, catalog: Catalog) -> tuple[str, dict[str, Any]] | None:
    """The registered initialiser, as ``(name, options)``, that makes an initialiser equal to ``init``; else None.

    A name whose factory, called without options, makes ``init`` comes first, the one with the
    fewest options before others (``zeros`` before ``constant`` for ``Constant(0.0)``); then a name
    registered for ``init``'s own attrs class, with ``init``'s fields as its options
    (``uniform`` with ``low`` and ``high`` for ``Uniform(-0.5, 0.5)``).
    """
    found = []
    for record in catalog.records("initialiser"):
        options = inspect.signature(record.factory).parameters
        if all(p.default is not p.empty or p.kind not in OPTION_KINDS for p in options.values()):
            if _same(_made_without_options(record.factory), init):
                found.append((0, len(options), record.name, {}))
                continue
        if record.factory is type(init) and attrs.has(type(init)):
            fields = {f.alias: getattr(init, f.name) for f in attrs.fields(type(init)) if f.init}
            found.append((1, len(options), record.name, fields))
    return min(found)[2:] if found else None


def _made_without_options(factory: Callable[..., Any]) -> Any:
    try:
        return factory()
    except Exception:  # a factory that cannot run without options made no default: it is not the name sought
        return None


def _same(made: Any, init: Any) -> bool:
    try:
        return made is init or (type(made) is type(init) and bool(made == init))
    except ValueError:  # an equality of arrays, with no single truth value
        return False


def unnamed(value: Any) -> str:
    """``<module.name>`` for a default that no registered name makes: it says where it is defined."""
    name = getattr(value, "__qualname__", None)
    return f"<{value.__module__}.{name}>" if name else f"<{type(value).__module__}.{value!r}>"
