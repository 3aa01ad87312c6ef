"""What :func:`zoo.comparison.compare` and :func:`zoo.sweeps.sweep` return.

Each is a frozen value whose ``to_dict()`` is the document ``zoo compare --json`` or ``zoo sweep --json``
prints, whose ``table()`` gives the cells of the table the CLI prints, with a one-line ``repr`` and an
HTML table for notebooks.
"""

import copy
import html
from typing import Any

import attrs

from zoo.config import DataSpec
from zoo.test_time import shifts_label, short_label
from zoo.view import table as html_table


def data_label(spec: DataSpec) -> str:
    """``mnist, validation 5000 (last)``: the data a contender trains and is validated on."""
    if not spec.validation:  # then every training sample trains, and `split` only reorders them
        return f"{spec.dataset}, no validation"
    return f"{spec.dataset}, validation {spec.validation} ({spec.split})"


@attrs.frozen
class Comparison:
    """Contenders trained on the same data with the same seeds.

    ``rows``: per contender, in the order asked for, ``name``, ``completed`` (trials), ``runs`` (their ids),
    ``dataset``, ``validation``, ``split``, ``test_time_shifts``, then ``test_accuracy``, ``val_accuracy`` and
    ``train_seconds``
    (means over the completed seeds, None when none completed) each with its ``_std``, and ``params``.
    ``mixed_data``: the contenders did not all use the same data (allowed with ``allow_mixed_data``).
    ``stopped``: stopped midway (``should_stop``); finished trials are kept.
    """

    group: str
    seeds: tuple[int, ...] = attrs.field(converter=tuple)
    rows: tuple[dict[str, Any], ...] = attrs.field(converter=tuple, hash=False)
    mixed_data: bool = False
    stopped: bool = False

    def to_dict(self) -> dict[str, Any]:
        """What ``zoo compare --json`` prints: ``group``, ``seeds`` and the rows as ``results``."""
        return {"group": self.group, "seeds": list(self.seeds), "results": copy.deepcopy(list(self.rows))}

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Header and cells: mean (± std over several seeds) per contender, ``*`` marking the best in a column
        (not among test accuracies measured with different test-time shifts)."""
        repeats = len(self.seeds)
        best = {
            key: pick([r[key] for r in self.rows if r[key] is not None], default=None)
            for key, pick in (("test_accuracy", max), ("val_accuracy", max), ("train_seconds", min))
        }
        if len({r.get("test_time_shifts", 0) for r in self.rows}) > 1:  # not measured alike: no best to mark
            best["test_accuracy"] = None

        def cell(row, key, percent=True):
            if row[key] is None:
                return "—"
            scale, unit = (100, " %") if percent else (1, " s")
            text = f"{row[key] * scale:.2f}" + (f" ± {row[key + '_std'] * scale:.2f}" if repeats > 1 else "") + unit
            return text + (" *" if row[key] == best[key] else "")

        cells = [
            [
                r["name"],
                cell(r, "test_accuracy") + short_label(r.get("test_time_shifts", 0)),
                cell(r, "val_accuracy"),
                "—" if r["params"] is None else f"{r['params']:,}",
                cell(r, "train_seconds", percent=False),
                *([data_label(DataSpec(r["dataset"], r["validation"], r["split"]))] if self.mixed_data else []),
            ]
            for r in self.rows
        ]
        header = ["name", "test accuracy", "validation accuracy", "params", "train seconds"]
        return header + (["data"] if self.mixed_data else []), cells

    def __repr__(self) -> str:
        scores = ", ".join(f"{r['name']} {_percent(r['test_accuracy'])}" for r in self.rows)
        flags = "".join([", mixed data" if self.mixed_data else "", ", stopped" if self.stopped else ""])
        return f"Comparison({self.group!r}, seeds {list(self.seeds)}{flags}, test accuracy: {scores})"

    def _repr_html_(self) -> str:
        spread = f"; mean ± std over {len(self.seeds)} seeds" if len(self.seeds) > 1 else ""
        stopped = "; stopped before every trial finished" if self.stopped else ""
        caption = f"compare {self.group}: * best in its column{spread}{stopped}"
        return f"<p>{html.escape(caption)}</p>\n" + html_table(*self.table())


@attrs.frozen
class SweepResult:
    """A grid of settings trained with the same seeds, one selected on validation accuracy, then tested.

    ``trials``: per setting, in grid order, ``settings``, ``val_accuracy`` (mean over its repeats) and
    ``val_accuracy_std``, ``seconds`` (mean train seconds), ``completed`` and ``runs``. ``selected`` is
    the chosen setting (``selected_index`` its row), None when no setting completed all its repeats or
    the sweep was ``stopped``; ``test_accuracy`` and its ``_std`` are those of the selected setting's models.
    """

    group: str
    trials: tuple[dict[str, Any], ...] = attrs.field(converter=tuple, hash=False)
    repeats: int
    selected_index: int | None = None
    test_accuracy: float | None = None
    test_accuracy_std: float | None = None
    stopped: bool = False
    test_time_shifts: int = 0
    """The entry's ``[test_time]`` shifts, which the test accuracy (never the validation accuracy) used."""

    @property
    def selected(self) -> dict[str, Any] | None:
        return None if self.selected_index is None else dict(self.trials[self.selected_index]["settings"])

    def to_dict(self) -> dict[str, Any]:
        """What ``zoo sweep --json`` prints; the test accuracy only when a setting was selected."""
        keys = ("settings", "val_accuracy", "val_accuracy_std", "seconds")
        trials = [{key: copy.deepcopy(trial[key]) for key in keys} for trial in self.trials]
        document = {"group": self.group, "trials": trials, "selected": self.selected}
        if self.selected_index is not None:
            document |= {"test_accuracy": self.test_accuracy, "test_accuracy_std": self.test_accuracy_std}
            document |= {"test_time_shifts": self.test_time_shifts}
        return document

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Header and cells: one row per setting, its validation accuracy and seconds, the selected one marked."""
        cells = []
        for i, row in enumerate(self.trials):
            val = "—" if row["val_accuracy"] is None else f"{row['val_accuracy']:.2%}"
            if row["val_accuracy"] is not None and self.repeats > 1:
                val += f" ± {row['val_accuracy_std']:.2%}"
            seconds = "—" if row["seconds"] is None else f"{row['seconds']:.1f}"
            mark = "selected" if i == self.selected_index else ""
            cells.append([*map(str, row["settings"].values()), val, seconds, mark])
        return [*self.trials[0]["settings"], "validation accuracy", "train seconds", ""], cells

    def conclusion(self) -> str:
        """``selected optimizer.lr=0.01 on validation; its test accuracy: 91.20%``, or that nothing was."""
        if self.selected is None:
            return "nothing selected" + (": stopped" if self.stopped else ": no setting completed all its repeats")
        spread = f" ± {self.test_accuracy_std:.2%}" if self.repeats > 1 else ""
        setting = ", ".join(f"{k}={v}" for k, v in self.selected.items())
        shifts = shifts_label(self.test_time_shifts)
        return f"selected {setting} on validation; its test accuracy: {self.test_accuracy:.2%}{spread}{shifts}"

    def __repr__(self) -> str:
        grid = f"{len(self.trials)} settings x {self.repeats} seed{'s' if self.repeats > 1 else ''}"
        return f"SweepResult({self.group!r}, {grid}, {self.conclusion()})"

    def _repr_html_(self) -> str:
        return f"<p>sweep {html.escape(self.group)}: {html.escape(self.conclusion())}</p>\n" + html_table(*self.table())


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.2%}".replace("%", " %")
