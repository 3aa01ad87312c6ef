"""Test-time augmentation: class probabilities averaged over one-pixel shifts of each image (fastai's ``tta``).

A shift is a slice copy with zeros coming in, so the same images always give the same predictions.
"""

from typing import TYPE_CHECKING

import attrs
import numpy as np

from zoo.errors import DataError
from zoo.probabilities import probabilities_of

if TYPE_CHECKING:  # zoo.network imports the config, which imports this module
    from zoo.network import Network

OFFSETS = {
    4: ((-1, 0), (1, 0), (0, -1), (0, 1)),
    8: ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)),
}
"""``(rows down, columns right)`` of each shifted view, by the number of shifts an entry asks for."""


@attrs.frozen
class TestTimeSpec:
    """An entry's ``[test_time]``: predictions average the class probabilities over each image and its one-pixel
    shifts in ``shifts`` directions (4: up, down, left, right; 8: also the diagonals; 0: the image alone)."""

    shifts: int = 0


def shifted_into(out: np.ndarray, batch: np.ndarray, down: int, right: int) -> np.ndarray:
    """``batch`` moved ``down`` rows and ``right`` columns on its last two axes into ``out``, zeros coming in."""
    height, width = batch.shape[-2:]
    out.fill(0)
    out[..., max(down, 0) : height + min(down, 0), max(right, 0) : width + min(right, 0)] = batch[
        ..., max(-down, 0) : height + min(-down, 0), max(-right, 0) : width + min(-right, 0)
    ]
    return out


def averaged_probabilities(network: "Network", batch: np.ndarray, shifts: int, loss: str) -> np.ndarray:
    """Mean class probabilities ``(B, classes)``, float64, over ``batch`` (images ``(B, H, W)`` or
    ``(B, C, H, W)``) and its ``shifts`` shifted views, each view's checked (``loss`` names the loss in errors)."""
    if batch.ndim < 3:
        raise DataError(f"test-time shifts move images, so they must be (N, H, W) or (N, C, H, W), not {batch.shape}")
    total = probabilities_of(network.loss, network.forward(batch, training=False), loss)
    view = np.empty_like(batch)
    for down, right in OFFSETS[shifts]:
        output = network.forward(shifted_into(view, batch, down, right), training=False)
        total += probabilities_of(network.loss, output, loss)
    total /= 1 + len(OFFSETS[shifts])
    return total


def recorded_shifts(meta: dict) -> int | None:
    """The test-time shifts a model file's recorded test accuracy was measured with: 0 for files from before
    the setting existed, None if the record is not a valid setting."""
    recorded = meta.get("test_time", {"shifts": 0})
    shifts = recorded.get("shifts") if isinstance(recorded, dict) else None
    valid = isinstance(shifts, int) and not isinstance(shifts, bool) and (shifts == 0 or shifts in OFFSETS)
    return shifts if valid else None


def shifts_label(shifts: int | None) -> str:
    """What follows a test figure measured with ``shifts`` (from :func:`recorded_shifts`): nothing for none."""
    if shifts is None:
        return " (test-time shifts not readably recorded)"
    return f" (with {shifts} test-time shifts)" if shifts else ""


def short_label(shifts: int | None) -> str:
    """A table cell's mark on a test figure measured with ``shifts``: `` (4 shifts)``, `` (? shifts)`` if unreadable."""
    if shifts == 0:
        return ""
    return f" ({'?' if shifts is None else shifts} shifts)"
