"""What an optimizer is: the interface optimizer plugins implement, and the check of what it offers zoo."""

import math
import numbers
from typing import Protocol

from zoo.errors import PluginError
from zoo.layers import Param


class Optimizer(Protocol):
    """Updates parameters in place from their gradients.

    ``step`` may use each ``Param.grad`` as scratch space: gradients are consumed by the update.
    """

    def setup(self, params: list[Param]) -> None:
        """Make any state (velocities, moments) for ``params``, in the same order ``step`` will get them."""

    def start_epoch(self, epoch: int) -> None:
        """Called before the first step of each epoch (0, 1, ...), e.g. for a learning-rate schedule."""

    def step(self, params: list[Param]) -> None:
        """Update every ``param.value`` in place; ``param.lr``, when set, overrides the optimizer's rate."""

    # Optional, needed for entries with a learning-rate ``[schedule]``:
    #   scale_lr(factor: float): called before every step with the schedule's multiplier; the
    #   optimizer multiplies every learning rate it uses (its own and each ``param.lr``) by it.
    # An optimizer without it trains entries that have no schedule, as before.

    # Optional, needed for checkpoints (``zoo train --checkpoint-every``) when the optimizer keeps state:
    #   state() -> dict[str, ndarray]: every array and counter that ``step`` carries over between steps;
    #   load_state(state): restore them, after ``setup`` on parameters of the same shapes.
    # A stateless optimizer returns {}; one without these methods cannot be checkpointed.
    # The learning-rate factor of ``start_epoch`` is not state: zoo calls it again on resume.

    # Optional, for the fused training step:
    #   descent_rates(params) -> list[float] | None: when this step is plain gradient descent,
    #   ``value -= rate·grad`` with nothing carried to the next step, the rate of every parameter
    #   (in ``params`` order, learning-rate factors applied); else None. zoo then lets each layer
    #   apply its own update as it backpropagates (``backward_descent``, see zoo.layers.Layer) and
    #   does not call ``step``. Without the method, zoo always calls ``step``.


class DescentRates:
    """An optimizer's ``descent_rates`` for each step, checked: in full when the answer changes, by one list
    comparison while it equals the last answer checked (the rates of most steps are those of the step before)."""

    def __init__(self, optimizer: Optimizer, where: str) -> None:
        method = getattr(optimizer, "descent_rates", None)
        self._method = method if callable(method) else None
        self._where = where
        self._checked: list | None = None

    def __call__(self, params: list[Param]) -> list[float] | None:
        """This step's rates, one per parameter, or None when the optimizer has none or declines."""
        rates = self._method(params) if self._method is not None else None
        if rates is None or (type(rates) is list and rates == self._checked):
            return rates
        if not isinstance(rates, list) or len(rates) != len(params) or not all(_is_rate(r) for r in rates):
            raise PluginError(
                f"{self._where}: descent_rates() returned {rates!r}: it must be None or a list of {len(params)} "
                "finite numbers >= 0, one per parameter"
            )
        self._checked = list(rates)
        return rates


def _is_rate(value: object) -> bool:
    real = type(value) is float or (isinstance(value, numbers.Real) and not isinstance(value, bool))  # float: fast
    return real and math.isfinite(value) and value >= 0
