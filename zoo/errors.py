"""The errors zoo raises for user mistakes: the CLI prints ``str(error)`` as one line."""

import difflib
from collections.abc import Iterable


class ZooError(Exception):
    """Base of every error caused by input (configs, files, names), not by a bug in zoo."""


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
        self.suggestions = difflib.get_close_matches(name, self.available, n=3, cutoff=0.6)
        super().__init__(self._message())

    def _message(self) -> str:
        prefix = f"{self.where}: " if self.where else ""
        text = f"{prefix}unknown {self.kind} {self.name!r}"
        if self.suggestions:
            text += "; did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        if self.available:
            text += " (available: " + ", ".join(self.available) + ")"
        return text

    def __str__(self) -> str:
        return self._message()
