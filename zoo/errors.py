"""The errors zoo raises for user mistakes: the CLI prints ``str(error)`` as one line."""

import difflib
from collections.abc import Iterable

PREFIX_SEPARATOR = "-"
"""What separates a package prefix from the rest of a name, as the guide recommends (``acme-gelu``)."""


def close_matches(name: str, options: Iterable[str], limit: int = 3) -> list[str]:
    """The options most like ``name``: similar enough, and nearly as similar as the best one.

    Package prefixes are set aside, so that ``gelu`` finds ``acme-gelu`` and ``acme-relu`` finds
    ``relu``; an option ending in ``-name`` (or ``name`` ending in ``-option``) ranks first.
    """
    scored = sorted(
        ((_similarity(name, option), _ratio(name, option), option) for option in options),
        key=lambda scores: (-scores[0], -scores[1], scores[2]),
    )
    best = scored[0][0] if scored else 0.0
    return [option for score, _, option in scored[:limit] if score >= 0.6 and score >= best - 0.1]


def _similarity(name: str, option: str) -> float:
    """1 when one of the two is the other with a prefix, else the best ratio with or without prefixes."""
    if option.endswith(PREFIX_SEPARATOR + name) or name.endswith(PREFIX_SEPARATOR + option):
        return 1.0
    return max(_ratio(a, b) for a in _unprefixed(name) for b in _unprefixed(option))


def _unprefixed(name: str) -> list[str]:
    """``name``, and ``name`` without its first segment if it has one (``acme-gelu``: also ``gelu``)."""
    prefix, _, rest = name.partition(PREFIX_SEPARATOR)
    return [name, rest] if prefix and rest else [name]


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """``; did you mean 'x' or 'y'?`` for the options closest to ``name``, or nothing."""
    close = close_matches(name, options)
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?" if close else ""


def one_line(error: BaseException) -> str:
    """An exception's text on one line (zoo prints errors as single lines), or its type if it has none."""
    return " ".join(str(error).split()) or type(error).__name__


class ZooError(Exception):
    """Base of every error caused by input (configs, files, names), not by a bug in zoo.

    Its text is always one line: a line break that came in with user input (a TOML key
    such as ``"a\\nb"``) is shown as a space, so the CLI's ``error:`` line stays one line.
    """

    def __str__(self) -> str:
        return " ".join(super().__str__().splitlines())


class ConfigError(ZooError):
    """A registry entry or override is malformed: wrong key, type or value."""


class DataError(ZooError):
    """A dataset is missing, unreadable, corrupt or fails its checksum."""


class ModelFileError(ZooError):
    """A model file cannot be read, or is not a zoo model file."""


class DivergenceError(ZooError):
    """Training produced NaN or Inf."""


class PluginError(ZooError):
    """A plugin failed to load, raised in a hook, or clashed with another plugin."""


class DuplicateNameError(PluginError):
    """Two plugins registered the same name for the same kind."""


class UnknownNameError(ZooError, LookupError):
    """A name (entry, layer type, initialiser, ...) that no plugin registered."""

    def __init__(self, kind: str, name: str, available: Iterable[str], where: str = ""):
        self.kind, self.name, self.where = kind, name, where
        self.available = sorted(available)
        self.suggestions = close_matches(name, self.available)
        super().__init__(self._message())

    def _message(self) -> str:
        prefix = f"{self.where}: " if self.where else ""
        text = f"{prefix}unknown {self.kind} {self.name!r}" + did_you_mean(self.name, self.available)
        if self.available:
            text += " (available: " + ", ".join(self.available) + ")"
        return text
