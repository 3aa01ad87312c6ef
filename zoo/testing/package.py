"""``check_package``: every name a package registered, checked to the end, with every failure reported at once."""

import os
import traceback
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

import zoo
from zoo.catalog import Catalog, Record
from zoo.errors import ConfigError, ZooError, did_you_mean, one_line
from zoo.loading import default_catalog
from zoo.testing.core import ConformanceError
from zoo.testing.dispatch import check_plugin


class Checked(list):
    """The ``(kind, name)`` pairs :func:`check_package` checked, in catalog order; ``unchecked`` holds the
    pairs it registered but were not checked (named in ``skip``), so nothing goes unchecked silently."""

    def __init__(self, checked: list[tuple[str, str]], unchecked: list[tuple[str, str]]):
        super().__init__(checked)
        self.unchecked = unchecked


class PackageConformanceError(ConformanceError):
    """Some names of a package fail: one message, one line per failure, as pytest lists every failing test.

    ``failures`` holds ``(kind, name, reason)`` per failure (kind ``"plugin"`` for a plugin that
    did not load, ``"options"`` or ``"skip"`` for an argument naming nothing the package
    registered), ``checked`` the pairs that passed and ``unchecked`` the pairs skipped.
    """

    def __init__(
        self,
        package: str,
        failures: list[tuple[str, str, str]],
        passed: list[tuple[str, str]],
        unchecked: list[tuple[str, str]],
    ):
        counts = f"{len(failures)} failure{'s' if len(failures) != 1 else ''}, {len(passed)} passed"
        lines = [f"package {package!r} fails zoo's conformance kit ({counts}, {len(unchecked)} not checked):"]
        lines += [f"- {reason}" for _, _, reason in failures]
        if unchecked:
            lines.append(f"not checked (in skip): {_pairs(unchecked)}")
        super().__init__("\n".join(lines), package=package, check="check_package")
        self.failures, self.checked, self.unchecked = failures, passed, unchecked


class NotChecked(UserWarning):
    """A check passed but left something out, which the warning names so that pytest's summary shows it:
    :func:`check_package` the names in ``skip``, :func:`check_layer` a ``to_onnx`` it could not run
    (onnx not installed, or ``to_onnx`` refusing the options with ``NotImplementedError``)."""


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
    Every name is checked, whatever fails before it; if any fail, one
    :class:`PackageConformanceError` lists each failure on a line of its own, with the names
    skipped. Failures zoo recorded against the package fail too: a plugin that did not load, a
    hook that raised, a name another plugin had already taken. A pass with names skipped
    warns (:class:`NotChecked`), naming them.

    ``options`` maps a name (or ``"kind:name"``, when two kinds share the name) to its options,
    e.g. ``{"leaky_relu": {"alpha": 0.1}}``; to pass keyword arguments to its check as well, map
    it to ``{"options": {...}, **kwargs}``, e.g. ``{"my_init": {"options": {}, "std": 0.1}}``; a
    dataset takes no options but may take ``data_dir``: ``{"my-set": {"options": {}, "data_dir": path}}``.
    ``skip`` names (or ``"kind:name"``) are not checked but listed in ``unchecked``: datasets are
    loaded, twice, so skip one whose files the tests do not have. A key of ``options`` or a name
    in ``skip`` that the package did not register is a failure too, with the closest names.
    """
    __tracebackhide__ = True  # pytest shows the author's call and the failures, not this loop
    catalog = default_catalog() if catalog is None else catalog
    options, skip = options or {}, list(skip)
    loading = [f for f in catalog.failures if package in (f.package, f.plugin)]
    records = [r for r in catalog.records() if package in (r.package, r.plugin)]
    if not records and not loading:
        known = sorted({r.package or r.plugin for r in catalog.records()})
        raise ConfigError(f"zoo.testing: {package!r} registered no plugin names (packages: {', '.join(known)})")
    failures = [("plugin", f.plugin, f"plugin {f.plugin!r}: {f.reason}") for f in loading]
    if not loading:  # else a name may be missing because its plugin broke, which is reported already
        failures += _unknown_names(records, "options", options) + _unknown_names(records, "skip", skip)
    checked, unchecked, errors = [], [], []
    for record in records:
        key = f"{record.kind}:{record.name}"
        if key in skip or record.name in skip:
            unchecked.append((record.kind, record.name))
            continue
        given = options.get(key, options.get(record.name, {}))
        kwargs = dict(given) if "options" in given else {"options": given}
        try:
            check_plugin(record.kind, record.name, catalog=catalog, **kwargs)
        except Exception as error:  # every failure is reported, as pytest reports every failing test
            failures.append((record.kind, record.name, _reason(record, error)))
            errors.append(error)
        else:
            checked.append((record.kind, record.name))
    if failures:
        unexpected = next((e for e in errors if not isinstance(e, ZooError | ConformanceError)), None)
        raise PackageConformanceError(package, failures, checked, unchecked) from unexpected
    if unchecked:
        warnings.warn(
            NotChecked(f"check_package({package!r}) did not check {_pairs(unchecked)} (in skip)"), stacklevel=2
        )
    return Checked(checked, unchecked)


def _unknown_names(records: list[Record], argument: str, keys: Iterable[str]) -> list[tuple[str, str, str]]:
    """A failure for each key of ``options`` or ``skip`` naming nothing in ``records``: a typo would go unnoticed."""
    known = {r.name for r in records} | {f"{r.kind}:{r.name}" for r in records}
    failures = []
    for key in keys:
        if key not in known:
            hint = did_you_mean(key, sorted(known))
            failures.append((argument, key, f"{argument}: {key!r} is no name this package registered{hint}"))
    return failures


def _reason(record: Record, error: Exception) -> str:
    """One line for a failed check, naming the kind and name; for an unexpected exception, the line that raised it."""
    subject = f"{record.kind} {record.name!r}"
    if isinstance(error, ConformanceError | ZooError):
        text = one_line(error)
        return text if subject in text else f"{subject}: {text}"
    frame = _plugin_frame(error)
    where = f"{Path(frame.filename).name}:{frame.lineno}, in {frame.name}"
    return f"{subject} raised {type(error).__name__}: {one_line(error)} (at {where})"


def _plugin_frame(error: Exception) -> traceback.FrameSummary:
    """The innermost frame of the traceback outside zoo and numpy: most likely the plugin's own code."""
    frames = traceback.extract_tb(error.__traceback__)
    library = tuple(str(Path(package.__file__).parent) + os.sep for package in (zoo, np))
    return next((f for f in reversed(frames) if not f.filename.startswith(library)), frames[-1])


def _pairs(pairs: list[tuple[str, str]]) -> str:
    return ", ".join(f"{kind} {name!r}" for kind, name in pairs)
