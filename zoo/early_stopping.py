"""Early stopping that keeps the best weights: the model kept is the best on the monitored metric, always.

Unlike Keras's ``EarlyStopping(restore_best_weights=True)``, which restores only when it is
the one stopping training, the best weights are restored whether patience ran out or the
budget did (keras #11371, #12511).
"""

import math

import attrs
import numpy as np


@attrs.frozen
class EarlyStoppingSpec:
    """``[train.early_stopping]``: stop when ``monitor`` has not improved by ``min_delta`` in ``patience`` points."""

    monitor: str = "val_accuracy"
    patience: int = 5
    min_delta: float = 0.0


@attrs.define
class BestWeights:
    """The best value of the monitored metric so far, when it was reached, and a copy of the network's state then."""

    spec: EarlyStoppingSpec
    best: float = math.inf
    """The best value seen, negated for accuracy so that lower is always better."""
    best_step: int = 0
    best_epoch: float = 0.0
    wait: int = 0
    weights: dict[str, np.ndarray] = attrs.field(factory=dict, repr=False)

    @classmethod
    def of(cls, spec: EarlyStoppingSpec, state: dict[str, np.ndarray]) -> "BestWeights":
        """Buffers for ``state`` made once, so keeping a new best copies without allocating."""
        return cls(spec, weights={k: np.empty_like(v) for k, v in state.items()})

    def observe(self, value: float, step: int, epoch: float, state: dict[str, np.ndarray]) -> bool:
        """Record the metric at a log point, copying ``state`` if it is the best; whether patience has run out."""
        signed = -value if self.spec.monitor == "val_accuracy" else value
        if signed < self.best - self.spec.min_delta:
            self.best, self.best_step, self.best_epoch, self.wait = signed, step, epoch, 0
            for key, array in state.items():
                np.copyto(self.weights[key], array)
            return False
        self.wait += 1
        return self.wait >= self.spec.patience

    @property
    def best_value(self) -> float:
        return -self.best if self.spec.monitor == "val_accuracy" else self.best

    def progress(self) -> dict:
        """The counters, for a checkpoint's JSON header (the weights go in its arrays)."""
        return {"best": self.best, "best_step": self.best_step, "best_epoch": self.best_epoch, "wait": self.wait}

    def restore_progress(self, saved: dict, weights: dict[str, np.ndarray]) -> None:
        self.best, self.best_step, self.best_epoch, self.wait = (
            float(saved["best"]),
            int(saved["best_step"]),
            float(saved["best_epoch"]),
            int(saved["wait"]),
        )
        for key, array in self.weights.items():
            np.copyto(array, weights[key])
