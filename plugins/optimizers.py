"""Built-in optimizers: SGD (optionally with momentum or Nesterov momentum), Adam, AdamW and RMSprop.

Every update is in place, through scratch arrays made once in ``setup``. A parameter's
own learning rate (``lr`` on its layer in the registry entry, as seed 003 used) overrides
the optimizer's; ``decay`` multiplies every learning rate by itself once per epoch, and an
entry's ``[schedule]`` multiplies them by its factor at every step (``scale_lr``).

Updates use NumPy, not ``scipy.linalg.blas``: SciPy bundles a second OpenBLAS whose
threads fight NumPy's for the cores, which made each step about ten times slower here.
"""

import math

import attrs
import numpy as np

import zoo
from zoo.options import boolean, number


def _add_scaled(y, x, a, scratch):
    """``y += a·x`` in place, without allocating."""
    np.multiply(x, y.dtype.type(a), out=scratch)
    y += scratch


def _root_mean_square(v, grad, decay, eps, out):
    """``v = decay·v + (1 − decay)·grad²`` in place, and ``out = √v + eps``: Adam's and RMSprop's denominator."""
    v *= v.dtype.type(decay)
    np.multiply(grad, grad, out=out)
    out *= out.dtype.type(1 - decay)
    v += out
    np.sqrt(v, out=out)
    out += out.dtype.type(eps)


@attrs.define(eq=False)
class SGD:
    """Gradient descent; with ``momentum`` > 0, PyTorch-style velocity ``v = μv + g`` (Nesterov if asked)."""

    lr: float = attrs.field(default=0.01, validator=number(gt=0))
    momentum: float = attrs.field(default=0.0, validator=number(ge=0, lt=1))
    nesterov: bool = attrs.field(default=False, validator=boolean)
    weight_decay: float = attrs.field(default=0.0, validator=number(ge=0))
    decay: float = attrs.field(default=1.0, validator=number(gt=0, le=1))
    _factor: float = attrs.field(init=False, default=1.0)
    _scale: float = attrs.field(init=False, default=1.0)
    _velocity: list = attrs.field(init=False, factory=list)
    _scratch: list = attrs.field(init=False, factory=list)

    def setup(self, params):
        self._velocity = [np.zeros_like(p.value) if self.momentum else None for p in params]
        # Plain and classic-momentum steps use the gradient itself as scratch space.
        needs_scratch = self.weight_decay or (self.momentum and self.nesterov)
        self._scratch = [np.empty_like(p.value) if needs_scratch else None for p in params]

    def start_epoch(self, epoch):
        self._factor = self.decay**epoch

    def scale_lr(self, factor):
        self._scale = factor

    def descent_rates(self, params):
        """Each parameter's rate when this is plain descent (no momentum, no weight decay), so zoo can fuse it."""
        if self.momentum or self.weight_decay:
            return None
        return [(self.lr if p.lr is None else p.lr) * self._factor * self._scale for p in params]  # as step does

    def step(self, params):
        mu = self.momentum
        for p, velocity, scratch in zip(params, self._velocity, self._scratch):
            lr = (self.lr if p.lr is None else p.lr) * self._factor * self._scale
            step_scale = p.grad.dtype.type(-lr)
            if self.weight_decay:
                p.grad += np.multiply(p.value, p.value.dtype.type(self.weight_decay), out=scratch)
            if mu:
                velocity *= velocity.dtype.type(mu)
                velocity += p.grad
            if mu and not self.nesterov:
                np.multiply(velocity, step_scale, out=p.grad)
            else:
                if mu:  # Nesterov: step along g + μv
                    p.grad += np.multiply(velocity, velocity.dtype.type(mu), out=scratch)
                p.grad *= step_scale
            p.value += p.grad

    def state(self):
        return {f"velocity.{i}": v for i, v in enumerate(self._velocity) if v is not None}

    def load_state(self, state):
        for i, velocity in enumerate(self._velocity):
            if velocity is not None:
                velocity[...] = state[f"velocity.{i}"]


@attrs.define(eq=False)
class Adam:
    """Kingma & Ba 2015, with bias correction; ``weight_decay`` adds ``wd·w`` to the gradient (L2, as PyTorch)."""

    lr: float = attrs.field(default=0.001, validator=number(gt=0))
    beta1: float = attrs.field(default=0.9, validator=number(ge=0, lt=1))
    beta2: float = attrs.field(default=0.999, validator=number(ge=0, lt=1))
    eps: float = attrs.field(default=1e-8, validator=number(gt=0))
    weight_decay: float = attrs.field(default=0.0, validator=number(ge=0))
    decay: float = attrs.field(default=1.0, validator=number(gt=0, le=1))
    _factor: float = attrs.field(init=False, default=1.0)
    _scale: float = attrs.field(init=False, default=1.0)
    _t: int = attrs.field(init=False, default=0)
    _state: list = attrs.field(init=False, factory=list)
    _decoupled = False

    def setup(self, params):
        self._t = 0
        self._state = [tuple(np.zeros_like(p.value) for _ in range(3)) for p in params]

    def start_epoch(self, epoch):
        self._factor = self.decay**epoch

    def scale_lr(self, factor):
        self._scale = factor

    def step(self, params):
        self._t += 1
        correction = math.sqrt(1 - self.beta2**self._t) / (1 - self.beta1**self._t)
        for p, (m, v, scratch) in zip(params, self._state):
            lr = (self.lr if p.lr is None else p.lr) * self._factor * self._scale
            if self.weight_decay and self._decoupled:
                p.value *= p.value.dtype.type(1 - lr * self.weight_decay)
            elif self.weight_decay:
                _add_scaled(p.grad, p.value, self.weight_decay, scratch)
            lr *= correction
            m *= m.dtype.type(self.beta1)
            _add_scaled(m, p.grad, 1 - self.beta1, scratch)
            _root_mean_square(v, p.grad, self.beta2, self.eps, scratch)
            np.divide(m, scratch, out=scratch)
            scratch *= scratch.dtype.type(-lr)
            p.value += scratch

    def state(self):
        moments = {f"{kind}.{i}": a for i, (m, v, _) in enumerate(self._state) for kind, a in (("m", m), ("v", v))}
        return {"t": np.array(self._t), **moments}

    def load_state(self, state):
        self._t = int(state["t"])
        for i, (m, v, _) in enumerate(self._state):
            m[...] = state[f"m.{i}"]
            v[...] = state[f"v.{i}"]


@attrs.define(eq=False)
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019, as PyTorch's ``AdamW``): ``w ← w·(1 − lr·wd)``
    before the Adam step, so the decay does not pass through the moments."""

    weight_decay: float = attrs.field(default=0.01, validator=number(ge=0))
    _decoupled = True


@attrs.define(eq=False)
class RMSprop:
    """PyTorch's ``RMSprop``: ``v = αv + (1 − α)g²``, step ``g / (√v + eps)``, via a velocity if ``momentum`` > 0."""

    lr: float = attrs.field(default=0.01, validator=number(gt=0))
    alpha: float = attrs.field(default=0.99, validator=number(ge=0, lt=1))
    eps: float = attrs.field(default=1e-8, validator=number(gt=0))
    momentum: float = attrs.field(default=0.0, validator=number(ge=0, lt=1))
    weight_decay: float = attrs.field(default=0.0, validator=number(ge=0))
    _scale: float = attrs.field(init=False, default=1.0)
    _state: list = attrs.field(init=False, factory=list)

    def setup(self, params):
        self._state = [
            (np.zeros_like(p.value), np.zeros_like(p.value) if self.momentum else None, np.empty_like(p.value))
            for p in params
        ]

    def start_epoch(self, epoch):
        pass

    def scale_lr(self, factor):
        self._scale = factor

    def step(self, params):
        for p, (v, velocity, scratch) in zip(params, self._state):
            lr = (self.lr if p.lr is None else p.lr) * self._scale
            if self.weight_decay:
                _add_scaled(p.grad, p.value, self.weight_decay, scratch)
            _root_mean_square(v, p.grad, self.alpha, self.eps, scratch)
            np.divide(p.grad, scratch, out=scratch)
            if velocity is not None:
                velocity *= velocity.dtype.type(self.momentum)
                velocity += scratch
                np.multiply(velocity, velocity.dtype.type(-lr), out=scratch)
            else:
                scratch *= scratch.dtype.type(-lr)
            p.value += scratch

    def state(self):
        state = {f"v.{i}": v for i, (v, _, _) in enumerate(self._state)}
        return state | {f"velocity.{i}": m for i, (_, m, _) in enumerate(self._state) if m is not None}

    def load_state(self, state):
        for i, (v, velocity, _) in enumerate(self._state):
            v[...] = state[f"v.{i}"]
            if velocity is not None:
                velocity[...] = state[f"velocity.{i}"]


@zoo.hookimpl
def register_optimizers(register):
    register("sgd", SGD)
    register("adam", Adam)
    register("adamw", AdamW)
    register("rms_prop", RMSprop)
