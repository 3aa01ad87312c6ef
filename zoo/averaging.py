"""An exponential moving average of the network's weights, the model that is evaluated, kept and saved.

Averaging the weights of the last few thousand steps smooths out the noise of the final steps
(Polyak & Juditsky 1992; timm's ``ModelEmaV2``, Keras's ``use_ema``). Layer state such as batch
norm's running statistics is averaged with the weights; integer state is copied as it is. The
average only watches training, unless a schedule watches the validation figures, which are the
average's (as timm's schedulers see its EMA model's).
"""

import contextlib

import attrs
import numpy as np


@attrs.frozen
class AverageSpec:
    """``[train.average]``: keep ``avg = d·avg + (1 − d)·weights`` after every step.

    ``d`` is ``decay``, capped at ``(1 + n) / (10 + n)`` after ``n`` steps so that the first steps are
    not swamped by the initial weights (TensorFlow's ``ExponentialMovingAverage(num_updates=...)``).
    """

    decay: float = 0.999


@attrs.define
class WeightAverage:
    """The running average of a network's state and how many steps it has seen."""

    spec: AverageSpec
    arrays: dict[str, np.ndarray] = attrs.field(repr=False)
    updates: int = 0
    _scratch: dict[str, np.ndarray] = attrs.field(factory=dict, repr=False)
    _live: dict[str, np.ndarray] = attrs.field(factory=dict, repr=False)

    @classmethod
    def of(cls, spec: AverageSpec, state: dict[str, np.ndarray]) -> "WeightAverage":
        """Start from ``state``; every buffer is made here, so the updates allocate nothing."""
        arrays = {key: value.copy() for key, value in state.items()}
        scratch = {key: np.empty_like(value) for key, value in state.items() if _averaged(value)}
        return cls(spec, arrays, 0, scratch, {key: np.empty_like(value) for key, value in state.items()})

    def update(self, state: dict[str, np.ndarray]) -> None:
        """Move the average towards ``state`` (the network's after one more step)."""
        self.updates += 1
        weight = 1.0 - min(self.spec.decay, (1 + self.updates) / (10 + self.updates))
        for key, average in self.arrays.items():
            scratch = self._scratch.get(key)
            if scratch is None:
                np.copyto(average, state[key])
                continue
            np.subtract(state[key], average, out=scratch)
            scratch *= weight
            average += scratch

    @contextlib.contextmanager
    def swapped_into(self, network):
        """``network`` holding the averaged state inside the block, its own state again after it."""
        for key, value in network.state().items():
            np.copyto(self._live[key], value)
        network.load_state(self.arrays)
        try:
            yield network
        finally:
            network.load_state(self._live)

    def restore(self, updates: int, arrays: dict[str, np.ndarray]) -> None:
        """Continue from a checkpoint's average."""
        self.updates = updates
        for key, average in self.arrays.items():
            np.copyto(average, arrays[key])


def _averaged(value: np.ndarray) -> bool:
    return np.issubdtype(value.dtype, np.inexact)
