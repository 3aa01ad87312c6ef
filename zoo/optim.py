"""What an optimizer is: the interface optimizer plugins implement."""

from typing import Protocol

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
