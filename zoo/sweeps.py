"""Sweeps: a grid of settings, K seeds each, the best chosen on validation data only.

Repeat ``r`` of every setting uses seed ``seed + r``: all settings see the same splits,
initial weights and batch orders (a paired comparison, fairer than independent draws),
and a trial's seed never depends on the order trials ran in.
"""

import itertools
import statistics
from typing import Any

from zoo.config import parse_value
from zoo.errors import ConfigError
from zoo.trial import Trial


def parse_grid(axes: list[str]) -> list[tuple[str, list[Any]]]:
    """``["layers.2.rate=0.0,0.1"]`` -> ``[("layers.2.rate", [0.0, 0.1])]``; values are read as TOML.

    Keys joined by ``+`` move together: ``layers.2.rate+layers.5.rate=0.1,0.2`` sets both to each value.
    """
    grid = []
    for axis in axes:
        key, sep, values = axis.partition("=")
        key = key.strip()
        texts = [text for text in values.split(",") if text.strip()]
        if not sep or not key or not texts:
            raise ConfigError(f"--grid {axis!r}: expected KEY.PATH=V1,V2,..., e.g. layers.2.rate=0.0,0.1,0.2")
        if key in (k for k, _ in grid):
            raise ConfigError(f"--grid {axis!r}: {key} is already swept by another --grid")
        grid.append((key, [parse_value(text) for text in texts]))
    return grid


def settings_grid(grid: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    """Every combination, in grid order (the first axis varies slowest)."""
    keys = [key for key, _ in grid]
    return [dict(zip(keys, values)) for values in itertools.product(*(values for _, values in grid))]


def overrides_for(setting: dict[str, Any]) -> tuple[str, ...]:
    """``--set`` overrides for a setting (strings quoted as TOML; ``a+b`` keys set each of ``a`` and ``b``)."""
    overrides = []
    for keys, value in setting.items():
        text = (
            f'"{value}"' if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else repr(value)
        )
        overrides += [f"{key}={text}" for key in keys.split("+")]
    return tuple(overrides)


def sweep_trials(
    entry: str, overrides: list[str], settings: list[dict[str, Any]], repeats: int, seed: int, group: str
) -> list[Trial]:
    """One trial per setting and repeat; the test set is left alone until a setting is selected."""
    return [
        Trial(
            entry,
            tuple(overrides) + overrides_for(setting),
            seed + r,
            setting,
            group,
            test=False,
        )
        for setting in settings
        for r in range(repeats)
    ]


def summarise(settings: list[dict[str, Any]], repeats: int, results: list[dict | None]) -> list[dict[str, Any]]:
    """Per setting: validation accuracy mean and standard deviation over its completed repeats, mean seconds."""
    rows = []
    for i, setting in enumerate(settings):
        done = [r for r in results[i * repeats : (i + 1) * repeats] if r and r["status"] == "completed"]
        vals = [r["val_accuracy"] for r in done if r["val_accuracy"] is not None]
        rows.append(
            {
                "settings": setting,
                "val_accuracy": statistics.fmean(vals) if vals else None,
                "val_accuracy_std": statistics.stdev(vals) if len(vals) > 1 else 0.0 if vals else None,
                "seconds": statistics.fmean(r["train_seconds"] for r in done) if done else None,
                "completed": len(done),
                "runs": [r["run"] for r in done],
            }
        )
    return rows


def select(rows: list[dict[str, Any]], repeats: int) -> int | None:
    """Index of the setting with the best mean validation accuracy over all its repeats (first on ties)."""
    complete = [i for i, row in enumerate(rows) if row["completed"] == repeats and row["val_accuracy"] is not None]
    return max(complete, key=lambda i: rows[i]["val_accuracy"], default=None)
