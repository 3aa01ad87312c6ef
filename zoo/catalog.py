"""The catalog: every name that plugins registered, by kind, resolved in one place."""

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from zoo.errors import ConfigError, DuplicateNameError, UnknownNameError, did_you_mean

KINDS = {
    "layer": "register_layers",
    "initialiser": "register_initialisers",
    "optimizer": "register_optimizers",
    "loss": "register_losses",
    "batches": "register_batches",
    "augmenter": "register_augmenters",
    "dataset": "register_datasets",
    "model": "register_models",
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
    """A plugin that failed to import or raised in a hook, or a name two plugins claimed."""

    plugin: str
    package: str | None
    reason: str


@attrs.define
class Catalog:
    """Registered names by kind, plus the plugins that failed."""

    _records: dict[str, dict[str, Record]] = attrs.field(factory=lambda: {k: {} for k in KINDS})
    _clashes: dict[tuple[str, str], list[Record]] = attrs.field(factory=dict)
    failures: list[Failure] = attrs.field(factory=list)
    disabled: list[tuple[str, str | None]] = attrs.field(factory=list)
    """``(plugin, package)`` of each plugin switched off by ``ZOO_DISABLE_PLUGINS``."""

    def add(self, record: Record) -> None:
        """Register ``record``; a name already taken becomes a clash naming both plugins."""
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
        owners = " and ".join(_owner(r) for r in self._clashes[(kind, name)])
        return DuplicateNameError(f"{kind} {name!r} is registered by both {owners}")

    def names(self, kind: str) -> list[str]:
        return sorted(self._records[kind])

    def clashing(self, kind: str) -> list[str]:
        """Names of ``kind`` that two plugins claimed: unusable until one of them goes."""
        return sorted(name for k, name in self._clashes if k == kind)

    def records(self, kind: str | None = None) -> list[Record]:
        kinds = [kind] if kind else list(KINDS)
        return [self._records[k][n] for k in kinds for n in sorted(self._records[k])]

    def get(self, kind: str, name: str, where: str = "") -> Record:
        """The record for ``name``; an unknown or clashing name raises a one-line error."""
        try:
            return self._records[kind][name]
        except KeyError:
            pass
        if (kind, name) in self._clashes:
            error = self._clash_error(kind, name)
            raise DuplicateNameError(f"{where}: {error}" if where else str(error))
        error = UnknownNameError(kind, name, self._records[kind], where)
        for failure in self.failures:  # the name may be missing because its plugin broke
            error.add_note(f"plugin {failure.plugin!r} failed: {failure.reason}")
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
