"""What a layer is: the interface layer plugins implement, their parameters, and reusable buffers."""

from typing import Protocol

import attrs
import numpy as np


@attrs.define(eq=False)
class Param:
    """A trainable array, its gradient (same shape, filled by ``backward``) and an optional own learning rate."""

    name: str
    value: np.ndarray
    grad: np.ndarray
    lr: float | None = None


class Layer(Protocol):
    """A layer on flat batches ``(N, features)``.

    ``forward`` may return a view of a buffer the layer reuses on the next call:
    callers must not keep it across steps.
    """

    def build(self, in_features: int, dtype: np.dtype, rng: np.random.Generator) -> int:
        """Create parameters for ``in_features`` inputs; return the number of output features."""

    def params(self) -> list[Param]:
        """The trainable parameters (empty for parameter-free layers)."""

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        """``(N, in) -> (N, out)``; ``training`` switches train-only behaviour such as dropout."""

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """Fill parameter gradients from ``dy`` ``(N, out)``; return ``dx`` ``(N, in)`` unless not needed."""


class Buffers:
    """Named arrays reused across steps: re-allocated only when a batch larger than any before arrives."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, key: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An array of ``shape`` and ``dtype``, a view of the buffer ``key``; its contents are undefined.

        The first axis is the batch: a smaller batch is a view of the buffer's first rows.
        """
        array = self._arrays.get(key)
        if array is None or array.shape[0] < shape[0] or array.shape[1:] != shape[1:] or array.dtype != dtype:
            array = self._arrays[key] = np.empty(shape, dtype=dtype)
        return array[: shape[0]]

    def arange(self, n: int) -> np.ndarray:
        """``0 .. n-1`` as intp, made once for the largest ``n`` seen."""
        ramp = self._arrays.get("arange")
        if ramp is None or len(ramp) < n:
            ramp = self._arrays["arange"] = np.arange(n, dtype=np.intp)
        return ramp[:n]
