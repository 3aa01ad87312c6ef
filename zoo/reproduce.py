"""Reproducing shipped weights: retrain an entry from its recipe and set the new metrics beside the recorded ones."""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from zoo.runs import runs_root
from zoo.session import catalog as session_catalog
from zoo.trial import Trial, TrialContext, run_trial
from zoo.weights import load_pretrained

TOLERANCE = 0.005
"""Largest difference in test or validation accuracy (0.005: half a percentage point) that still agrees.

Training is bit-identical for a seed on one machine with one BLAS thread count; another machine or
thread count changes float32 sums in their last bits, which training amplifies to a few tenths of a point.
"""
COMPARED = ("test_accuracy", "val_accuracy")


@attrs.frozen
class Reproduction:
    """Recorded against reproduced metrics of one entry, and whether they agree within ``tolerance``."""

    name: str
    recorded: dict[str, Any]
    reproduced: dict[str, Any]
    tolerance: float
    run: str

    def differences(self) -> dict[str, float]:
        """Reproduced minus recorded, for each compared metric both have."""
        return {
            key: self.reproduced[key] - self.recorded[key]
            for key in COMPARED
            if self.recorded.get(key) is not None and self.reproduced.get(key) is not None
        }

    @property
    def agrees(self) -> bool:
        return all(abs(difference) <= self.tolerance for difference in self.differences().values())

    def to_dict(self) -> dict[str, Any]:
        keys = (*COMPARED, "train_seconds", "seed")
        return {
            "name": self.name,
            "recorded": {key: self.recorded.get(key) for key in keys},
            "reproduced": {key: self.reproduced.get(key) for key in keys},
            "differences": self.differences(),
            "tolerance": self.tolerance,
            "agrees": self.agrees,
            "run": self.run,
        }


def reproduce(
    name: str,
    *,
    tolerance: float = TOLERANCE,
    runs_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    on_log: Callable = lambda record: None,
    on_step: Callable[[int, int], None] = lambda step, total: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Reproduction:
    """Retrain ``name`` with the seed its shipped weights recorded, as a run under ``runs_dir``, and compare.

    Entries whose recipe changed since their weights were trained are refused (see :mod:`zoo.weights`).
    """
    _, _, recorded = load_pretrained(name, session_catalog())
    options = TrialContext(runs_root(runs_dir).resolve(), Path(data_dir) if data_dir is not None else None)
    trial = Trial(name, (), recorded.get("seed"))
    result = run_trial(trial, options, on_log=on_log, on_step=on_step, should_stop=should_stop)
    return Reproduction(name, recorded, result, tolerance, result["run"])
