"""Training checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint is an ``.npz`` of plain arrays (the parameters and the optimizer's state)
plus a JSON header (step, running metrics, history, random generator states), written
atomically and read with ``allow_pickle=False``. The batch order is not stored: it is
replayed from the seed, which reproduces it exactly for any seeded schedule.
"""

import json
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from zoo.atomic import write_atomic
from zoo.errors import ModelFileError, ZooError, one_line
from zoo.modelfile import read_arrays

FORMAT = "zoo-checkpoint"
FORMAT_VERSION = 1
HEADER_KEY = "__checkpoint__"


class CheckpointError(ZooError):
    """A checkpoint that cannot be written, read or used."""


@attrs.frozen
class Checkpoint:
    """Training state after ``step`` completed steps."""

    step: int
    params: dict[str, np.ndarray] = attrs.field(eq=False, repr=False)
    optimizer: dict[str, np.ndarray] = attrs.field(eq=False, repr=False)
    rngs: dict[str, Any] = attrs.field(repr=False)
    """``bit_generator.state`` of each generator: ``layers`` (a list, one per layer) and ``augment``."""
    progress: dict[str, Any] = attrs.field(repr=False)
    """Running sums of the current log interval, training seconds so far, the log history, early stopping's counters."""
    schedule: dict[str, np.ndarray] = attrs.field(factory=dict, eq=False, repr=False)
    """The learning-rate schedule's state, for one that watches a metric."""
    best: dict[str, np.ndarray] = attrs.field(factory=dict, eq=False, repr=False)
    """Early stopping's copy of the best network state so far."""
    average: dict[str, np.ndarray] = attrs.field(factory=dict, eq=False, repr=False)
    """The running average of the network state (``train.average``)."""


def save(path: str | Path, checkpoint: Checkpoint) -> None:
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "step": checkpoint.step,
        "rngs": checkpoint.rngs,
        "progress": checkpoint.progress,
    }
    arrays = {f"param/{k}": v for k, v in checkpoint.params.items()}
    arrays |= {f"optimizer/{k}": np.asarray(v) for k, v in checkpoint.optimizer.items()}
    arrays |= {f"schedule/{k}": np.asarray(v) for k, v in checkpoint.schedule.items()}
    arrays |= {f"best/{k}": v for k, v in checkpoint.best.items()}
    arrays |= {f"average/{k}": v for k, v in checkpoint.average.items()}
    arrays[HEADER_KEY] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    try:
        write_atomic(path, lambda f: np.savez(f, **arrays))
    except OSError as error:
        raise CheckpointError(f"{path}: cannot write checkpoint: {one_line(error)}") from None


def load(path: str | Path) -> Checkpoint:
    """The checkpoint in ``path``; anything unreadable, foreign or pickled is a CheckpointError."""
    try:
        arrays = read_arrays(path)  # the model files' reader: no pickle, no allocation from an unchecked size
        header = json.loads(arrays.pop(HEADER_KEY).tobytes().decode("utf-8"))
        if header.get("format") != FORMAT:
            raise ValueError("not a zoo checkpoint")
        if header.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format version {header.get('format_version')}; this zoo reads {FORMAT_VERSION}")
        return Checkpoint(
            step=int(header["step"]),
            params=_section(arrays, "param/"),
            optimizer=_section(arrays, "optimizer/"),
            rngs=header["rngs"],
            progress=header["progress"],
            schedule=_section(arrays, "schedule/"),
            best=_section(arrays, "best/"),
            average=_section(arrays, "average/"),
        )
    except ModelFileError as error:
        raise CheckpointError(f"not a usable checkpoint: {error}") from None
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError) as error:
        raise CheckpointError(f"{path}: not a usable checkpoint: {one_line(error)}") from None


def _section(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}
