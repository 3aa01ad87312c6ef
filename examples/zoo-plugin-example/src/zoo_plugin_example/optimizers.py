"""RMSprop: each parameter's step divided by a running root mean square of its gradients.

The update is in place, through arrays made once in ``setup``, so a float32 network
stays float32. ``state`` and ``load_state`` expose the running averages, so a training
run can be checkpointed and resumed exactly.
"""

import attrs
import numpy as np

import zoo
from zoo.options import number


@attrs.define(eq=False)
class RMSprop:
    """Tieleman & Hinton 2012: ``v = ρv + (1-ρ)g²``, ``w -= lr·g / (sqrt(v) + eps)``.

    ``weight_decay`` adds ``weight_decay·w`` to the gradient first (L2); a parameter's own
    ``lr`` (set on its layer in the entry) overrides the optimizer's.
    """

    lr: float = attrs.field(default=0.001, validator=number(gt=0))
    rho: float = attrs.field(default=0.9, validator=number(ge=0, lt=1))
    eps: float = attrs.field(default=1e-8, validator=number(gt=0))
    weight_decay: float = attrs.field(default=0.0, validator=number(ge=0))
    _square_avg: list = attrs.field(init=False, factory=list)
    _scratch: list = attrs.field(init=False, factory=list)

    def setup(self, params):
        self._square_avg = [np.zeros_like(p.value) for p in params]
        self._scratch = [np.empty_like(p.value) for p in params]

    def start_epoch(self, epoch):
        pass  # no schedule: the rate is the same in every epoch

    def step(self, params):
        for p, v, scratch in zip(params, self._square_avg, self._scratch):
            g, dtype = p.grad, p.grad.dtype.type
            if self.weight_decay:
                g += np.multiply(p.value, dtype(self.weight_decay), out=scratch)
            v *= dtype(self.rho)
            np.multiply(g, g, out=scratch)
            scratch *= dtype(1 - self.rho)
            v += scratch
            np.sqrt(v, out=scratch)
            scratch += dtype(self.eps)
            np.divide(g, scratch, out=g)
            g *= dtype(-(self.lr if p.lr is None else p.lr))
            p.value += g

    def state(self) -> dict[str, np.ndarray]:
        """Copies of the running averages of squared gradients, ``square_avg.<i>`` for the ``i``-th parameter."""
        return {f"square_avg.{i}": v.copy() for i, v in enumerate(self._square_avg)}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state` returned, after ``setup`` with the same parameters."""
        expected = {f"square_avg.{i}": v for i, v in enumerate(self._square_avg)}
        if set(state) != set(expected):
            raise ValueError(f"rmsprop state has keys {sorted(state)}, expected {sorted(expected)}")
        for key, v in expected.items():
            if np.shape(state[key]) != v.shape:
                raise ValueError(f"rmsprop state {key} has shape {np.shape(state[key])}, expected {v.shape}")
            np.copyto(v, state[key])


@zoo.hookimpl
def register_optimizers(register):
    register("rmsprop", RMSprop)
