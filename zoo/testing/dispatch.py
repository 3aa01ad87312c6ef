"""``check_plugin`` and ``check_package``: the check for a kind, for one name or every name a package registered."""

from collections.abc import Callable, Iterable
from typing import Any

from zoo.catalog import Catalog
from zoo.errors import ConfigError
from zoo.plugins import default_catalog
from zoo.testing.augmenters import check_augmenter
from zoo.testing.batches import check_batches
from zoo.testing.core import ConformanceError
from zoo.testing.datasets import check_dataset
from zoo.testing.entries import check_entry
from zoo.testing.initialisers import check_initialiser
from zoo.testing.layers import check_layer
from zoo.testing.losses import check_loss
from zoo.testing.optimizers import check_optimizer

CHECKS: dict[str, Callable[..., None]] = {
    "layer": check_layer,
    "initialiser": check_initialiser,
    "optimizer": check_optimizer,
    "loss": check_loss,
    "batches": check_batches,
    "augmenter": check_augmenter,
}
"""The check for each plugin kind with options."""

WITHOUT_OPTIONS: dict[str, tuple[Callable[..., None], str]] = {
    "model": (check_entry, "a registry entry"),
    "dataset": (check_dataset, "a dataset"),
}
"""The check for each kind whose names take no options, and what to call one in errors."""


class Checked(list):
    """The ``(kind, name)`` pairs :func:`check_package` checked, in catalog order; ``unchecked`` holds the
    pairs it registered but were not checked (named in ``skip``), so nothing goes unchecked silently."""

    def __init__(self, checked: list[tuple[str, str]], unchecked: list[tuple[str, str]]):
        super().__init__(checked)
        self.unchecked = unchecked


def check_plugin(
    kind: str, name: str, options: dict[str, Any] | None = None, *, catalog: Catalog | None = None, **kwargs: Any
) -> None:
    """Run the check for ``kind`` (``check_layer`` for ``"layer"``, ...; ``check_entry`` for ``"model"``,
    ``check_dataset`` for ``"dataset"``) on ``name``.

    ``kwargs`` go to that check (``std=`` for an initialiser, ``in_place=`` for an augmenter,
    ``data_dir=`` for a dataset, ...).
    """
    if kind in WITHOUT_OPTIONS:
        check, what = WITHOUT_OPTIONS[kind]
        if options:
            raise ConfigError(f"zoo.testing: {kind} {name!r}: {what} takes no options")
        return check(name, catalog=catalog, **kwargs)
    if kind not in CHECKS:
        raise ConfigError(
            f"zoo.testing: no check for kind {kind!r} (checked: {', '.join([*CHECKS, *WITHOUT_OPTIONS])})"
        )
    return CHECKS[kind](name, options, catalog=catalog, **kwargs)


def check_package(
    package: str,
    *,
    catalog: Catalog | None = None,
    options: dict[str, dict[str, Any]] | None = None,
    skip: Iterable[str] = (),
) -> Checked:
    """Run :func:`check_plugin` on every name ``package`` registered; return the ``(kind, name)`` pairs checked,
    a list whose ``unchecked`` attribute holds the pairs skipped.

    ``package`` is a distribution name as installed (``zoo-plugin-example``), or for a plugin
    not installed, its plugin name (a module's dotted name, as given to :func:`catalog_with`).
    Failures zoo recorded against the package fail too: a plugin that did not load, a hook that
    raised, a name another plugin had already taken.

    ``options`` maps a name (or ``"kind:name"``, when two kinds share the name) to its options,
    e.g. ``{"leaky_relu": {"alpha": 0.1}}``; to pass keyword arguments to its check as well, map
    it to ``{"options": {...}, **kwargs}``, e.g. ``{"my_init": {"options": {}, "std": 0.1}}``; a
    dataset takes no options but may take ``data_dir``: ``{"my-set": {"options": {}, "data_dir": path}}``.
    ``skip`` names (or ``"kind:name"``) are not checked but listed in ``unchecked``: datasets are
    loaded, twice, so skip one whose files the tests do not have.
    """
    catalog = default_catalog() if catalog is None else catalog
    options, skip = options or {}, set(skip)
    failures = [f for f in catalog.failures if package in (f.package, f.plugin)]
    if failures:
        raise ConformanceError(
            f"package {package!r}: " + "; ".join(f"plugin {f.plugin!r}: {f.reason}" for f in failures),
            package=package,
            check="loading",
        )
    records = [r for r in catalog.records() if package in (r.package, r.plugin)]
    if not records:
        known = sorted({r.package or r.plugin for r in catalog.records()})
        raise ConfigError(f"zoo.testing: {package!r} registered no plugin names (packages: {', '.join(known)})")
    checked, unchecked = [], []
    for record in records:
        key = f"{record.kind}:{record.name}"
        if key in skip or record.name in skip:
            unchecked.append((record.kind, record.name))
            continue
        given = options.get(key, options.get(record.name, {}))
        kwargs = dict(given) if "options" in given else {"options": given}
        check_plugin(record.kind, record.name, catalog=catalog, **kwargs)
        checked.append((record.kind, record.name))
    return Checked(checked, unchecked)
