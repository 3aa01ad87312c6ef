"""The catalog: every name that plugins registered, by kind, resolved in one place."""

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from zoo.errors import ConfigError, DuplicateNameError, PluginError, UnknownNameError, did_you_mean

KINDS = {
    "layer": "register_layers",
    "initialiser": "register_initialisers",
    "optimizer": "register_optimizers",
    "loss": "register_losses",
    "batches": "register_batches",
    "schedule": "register_schedules",
    "augmenter": "register_augmenters",
    "dataset": "register_datasets",
    "model": "register_models",
    "weights": "register_weights",
}
"""Plugin kind -> the hook that registers it."""


@attrs.frozen
class Record:
    """One registered name: what it makes and which plugin (and package) provided it."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    package: str | None = None


@attrs.frozen
class Failure:
    """A plugin that failed to import or raised in a hook, a name two plugins claimed, or a name refused."""

    plugin: str
    package: str | None
    reason: str


@attrs.define
class Catalog:
    """Registered names by kind, plus the plugins that failed."""

    _records: dict[str, dict[str, Record]] = attrs.field(factory=lambda: {k: {} for k in KINDS})
    _clashes: dict[tuple[str, str], list[Record]] = attrs.field(factory=dict)
    _refused: dict[tuple[str, str], Record] = attrs.field(factory=dict)
    """Names registered with a factory that cannot be called, left out."""
    failures: list[Failure] = attrs.field(factory=list)
    disabled: list[tuple[str, str | None]] = attrs.field(factory=list)
    """``(plugin, package)`` of each plugin switched off by ``ZOO_DISABLE_PLUGINS``."""

    def add(self, record: Record) -> None:
        """Register ``record``; a name already taken becomes a clash naming both plugins.

        A factory that is not callable (an instance registered instead of its class) is refused
        here, as a failure of its plugin, rather than failing with a traceback when an entry uses it.
        """
        if not callable(record.factory):
            self._refused[(record.kind, record.name)] = record
            self.failures.append(Failure(record.plugin, record.package, _refusal(record)))
            return
        taken = self._records[record.kind].get(record.name)
        key = (record.kind, record.name)
        if taken is None and key not in self._clashes:
            self._records[record.kind][record.name] = record
            return
        if taken is not None:
            del self._records[record.kind][record.name]
            self._clashes[key] = [taken]
        self._clashes[key].append(record)
        self.failures.append(Failure(record.plugin, record.package, str(self._clash_error(*key))))

    def _clash_error(self, kind: str, name: str) -> DuplicateNameError:
        records = self._clashes[(kind, name)]
        owners = list(dict.fromkeys(_owner(r) for r in records))
        if len(owners) == 1:
            times = "twice" if len(records) == 2 else f"{len(records)} times"
            return DuplicateNameError(f"{kind} {name!r} is registered {times} by {owners[0]}")
        both = "both " if len(owners) == 2 else ""
        return DuplicateNameError(f"{kind} {name!r} is registered by {both}{_listing(owners)}")

    def names(self, kind: str) -> list[str]:
        return sorted(self._records[kind])

    def clashing(self, kind: str) -> list[str]:
        """Names of ``kind`` that two plugins claimed: unusable until one of them goes."""
        return sorted(name for k, name in self._clashes if k == kind)

    def records(self, kind: str | None = None) -> list[Record]:
        kinds = [kind] if kind else list(KINDS)
        return [self._records[k][n] for k in kinds for n in sorted(self._records[k])]

    def get(self, kind: str, name: str, where: str = "") -> Record:
        """The record for ``name``; an unknown, clashing or refused name raises a one-line error."""
        try:
            return self._records[kind][name]
        except KeyError:
            pass
        if (kind, name) in self._clashes:
            error = self._clash_error(kind, name)
            raise DuplicateNameError(f"{where}: {error}" if where else str(error))
        if (kind, name) in self._refused:
            reason = _refusal(self._refused[(kind, name)], owner=True)
            raise PluginError(f"{where}: {reason}" if where else reason)
        error = UnknownNameError(kind, name, self._records[kind], where)
        for failure in self.failures:  # the name may be missing because its plugin broke
            error.add_note(f"plugin {failure.plugin!r} failed: {failure.reason}")
        if self.disabled:  # or because its plugin is off; which names a plugin has is unknown without importing it
            error.add_note(_disabled_note(self.disabled))
        raise error

    def create(self, kind: str, name: str, options: dict[str, Any], where: str) -> Any:
        """Make the plugin object ``name`` with ``options``; a bad option is a ConfigError at ``where``."""
        record = self.get(kind, name, f"{where}.type" if where else "")
        check_signature(record.factory, options, where, f"{kind} {name!r}")
        try:
            return record.factory(**options)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{where}: {error}") from None


def check_signature(factory: Callable[..., Any], options: dict[str, Any], where: str, what: str) -> None:
    """Unknown or missing options of ``factory`` become a ConfigError with suggestions."""
    signature = inspect.signature(factory)
    parameters = signature.parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return
    accepted = [n for n, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key in options:
        if key not in accepted:
            raise ConfigError(unknown_key_message(f"{where}.{key}", key, accepted, f"for {what}"))
    for name in accepted:
        if parameters[name].default is parameters[name].empty and name not in options:
            raise ConfigError(f"{where}: {what} needs option {name!r}")


def unknown_key_message(where: str, key: str, accepted: Iterable[str], context: str = "") -> str:
    """``where: unknown key 'epoch' <context>; did you mean 'epochs'? (accepted: ...)``"""
    accepted = sorted(accepted)
    text = f"{where}: unknown key {key!r}" + (f" {context}" if context else "") + did_you_mean(key, accepted)
    return text + " (accepted: " + (", ".join(accepted) or "none") + ")"


def _owner(record: Record) -> str:
    return f"plugin {record.plugin!r}" + (f" (package {record.package})" if record.package else "")


def _disabled_note(disabled: list[tuple[str, str | None]]) -> str:
    """``plugins 'a' and 'b' (package p) are disabled by $ZOO_DISABLE_PLUGINS``, grouped by package."""
    by_package: dict[str | None, list[str]] = {}
    for plugin, package in disabled:
        by_package.setdefault(package, []).append(repr(plugin))
    groups = [
        ("plugin " if len(plugins) == 1 else "plugins ")
        + _listing(plugins)
        + (f" (package {package})" if package else "")
        for package, plugins in by_package.items()
    ]
    return f"{_listing(groups)} {'is' if len(disabled) == 1 else 'are'} disabled by $ZOO_DISABLE_PLUGINS"


def _listing(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]


def _refusal(record: Record, owner: bool = False) -> str:
    """Why ``record``'s name was left out, naming its plugin if ``owner``."""
    source = f" from {_owner(record)}" if owner else ""
    return (
        f"{record.kind} {record.name!r}{source} is refused: its factory, of type {type(record.factory).__qualname__}, "
        "is not callable (register a class or a function, not an instance)"
    )
