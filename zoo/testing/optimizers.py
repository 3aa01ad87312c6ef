"""``check_optimizer``: it minimises a convex quadratic, in place, in float32 too, and honours ``Param.lr``."""

import inspect
import numbers
from typing import Any

import numpy as np

from zoo.catalog import Catalog
from zoo.layers import Param
from zoo.testing.core import Subject, global_random_state_untouched

STEPS = 500
REDUCTION = {np.float64: 1e-3, np.float32: 1e-2}
"""``f - f*`` after :data:`STEPS` steps must be at most this fraction of where it started."""
FALLBACK_LR = 0.01
"""The learning rate given to parameters when the optimizer's own cannot be read from its ``lr`` option."""


def check_optimizer(name: str, options: dict[str, Any] | None = None, *, catalog: Catalog | None = None) -> None:
    """Check the optimizer ``name`` made with ``options``; raise ConformanceError on the first failure.

    - On ``f(w) = ½‖A w − t‖²`` over a (2, 3) matrix and a (3,) vector (Hessian eigenvalues in
      [1, 4]), :data:`STEPS` steps bring ``f − f*`` below 1e-3 of its start (1e-2 in float32).
      Give options (e.g. a larger ``lr``) if its defaults are too slow for that.
    - ``step`` updates each ``Param.value`` in place (the same array object), and float32
      parameters stay float32.
    - ``Param.lr`` overrides its rate: with identical gradients, a parameter with ``lr = 0`` never
      moves, one with half the rate moves half as far in the first step (an update linear in the
      rate, as SGD's and Adam's are, with or without weight decay), and one whose ``lr`` equals
      the optimizer's own ``lr`` option moves like one with ``lr = None``.
    - If it has ``state()`` and ``load_state()`` (needed for checkpoints), a fresh optimizer
      loaded with a mid-run state continues bit-identically.
    - It never touches numpy's global random state.
    """
    subject = Subject.resolve("optimizer", name, options, catalog)
    with global_random_state_untouched(subject, "the random state check"):
        for dtype in (np.float64, np.float32):
            _check_minimises(subject, dtype)
        _check_param_lr(subject)
        _check_state(subject)


class Quadratic:
    """``f(w) = ½‖A w − t‖²`` with ``w`` split over a weight (2, 3) and a bias (3,); A's singular values in [1, 2]."""

    def __init__(self, dtype: type, seed: int = 0):
        rng = np.random.default_rng(seed)
        q1, _ = np.linalg.qr(rng.normal(size=(12, 9)))
        q2, _ = np.linalg.qr(rng.normal(size=(9, 9)))
        self.A = q1 @ np.diag(np.linspace(1.0, 2.0, 9)) @ q2.T
        self.t = rng.normal(size=12)
        self.best = self.value_at(np.linalg.lstsq(self.A, self.t, rcond=None)[0])
        w = rng.normal(size=9)
        self.params = [
            Param("W", w[:6].reshape(2, 3).astype(dtype), np.zeros((2, 3), dtype)),
            Param("b", w[6:].astype(dtype), np.zeros(3, dtype)),
        ]

    def value_at(self, w: np.ndarray) -> float:
        return 0.5 * float(np.sum((self.A @ w - self.t) ** 2))

    def gap(self) -> float:
        """``f(w) - f*`` at the current parameters."""
        return self.value_at(np.concatenate([p.value.ravel() for p in self.params]).astype(np.float64)) - self.best

    def fill_grads(self) -> None:
        w = np.concatenate([p.value.ravel() for p in self.params]).astype(np.float64)
        g = self.A.T @ (self.A @ w - self.t)
        self.params[0].grad[...] = g[:6].reshape(2, 3)
        self.params[1].grad[...] = g[6:]


def _run(optimizer: object, params: list[Param], steps: int, fill_grads) -> None:
    for _ in range(steps):
        fill_grads()
        optimizer.step(params)


def _check_minimises(subject: Subject, dtype: type) -> None:
    check = f"the convex quadratic check ({np.dtype(dtype)})"
    problem = Quadratic(dtype)
    arrays = [p.value for p in problem.params]
    optimizer = subject.make()
    optimizer.setup(problem.params)
    optimizer.start_epoch(0)
    start = problem.gap()
    _run(optimizer, problem.params, STEPS, problem.fill_grads)
    for p, array in zip(problem.params, arrays):
        if p.value is not array:
            raise subject.fail(check, f"step replaced {p.name}.value with a new array instead of updating it in place")
        if p.value.dtype != dtype or p.grad.dtype != dtype:
            raise subject.fail(check, f"{p.name} became {p.value.dtype} (its grad {p.grad.dtype})")
    gap = problem.gap()
    if not gap <= REDUCTION[dtype] * start:
        raise subject.fail(
            check,
            f"after {STEPS} steps f - f* went from {start:.3g} to {gap:.3g}, not below {REDUCTION[dtype]:g} of its "
            "start (if its learning rate is too small for that, check it with options such as a larger lr)",
        )


def _own_lr(subject: Subject) -> float | None:
    """The optimizer's learning rate: its ``lr`` option as given, else that option's default, else None."""
    lr = subject.options.get("lr")
    if lr is None:
        parameter = inspect.signature(subject.record.factory).parameters.get("lr")
        lr = None if parameter is None else parameter.default
    return float(lr) if isinstance(lr, numbers.Real) and not isinstance(lr, bool) and lr > 0 else None


def _check_param_lr(subject: Subject) -> None:
    check = "the per-parameter learning rate check"
    own = _own_lr(subject)
    base = own or FALLBACK_LR
    rates = {"zero": 0.0, "half": base / 2, "base": base} | ({"default": None} if own else {})
    rng = np.random.default_rng(1)
    start, grad = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    params = [Param(key, start.copy(), grad.copy(), lr) for key, lr in rates.items()]

    def fill_grads():
        for p in params:
            p.grad[...] = grad

    optimizer = subject.make()
    optimizer.setup(params)
    optimizer.start_epoch(0)
    # One step: after it, weight decay and momentum make later steps depend on where each parameter got to.
    _run(optimizer, params, 1, fill_grads)
    moved = {p.name: p.value - start for p in params}
    if not np.all(moved["base"] != 0):
        raise subject.fail(check, f"a parameter with lr = {base} did not move in one step")
    _run(optimizer, params, 4, fill_grads)
    if np.any(params[0].value != start):
        raise subject.fail(check, "a parameter with lr = 0 moved: step ignores Param.lr")
    ratio = np.abs(moved["half"]).sum() / np.abs(moved["base"]).sum()
    if not np.allclose(moved["half"], 0.5 * moved["base"], rtol=1e-6, atol=0):
        raise subject.fail(check, f"a parameter with lr = {base / 2} moved {ratio:.3g} times as far as one with {base}")
    if own and not np.allclose(moved["default"], moved["base"], rtol=1e-9, atol=0):
        raise subject.fail(
            check, f"a parameter with lr = None and one with lr = {own} (the optimizer's own) moved differently"
        )


def _check_state(subject: Subject) -> None:
    check = "the state round trip"
    optimizer = subject.make()
    if not (hasattr(optimizer, "state") and hasattr(optimizer, "load_state")):
        return
    problem = Quadratic(np.float64, seed=1)
    optimizer.setup(problem.params)
    optimizer.start_epoch(0)
    _run(optimizer, problem.params, 3, problem.fill_grads)
    try:
        state = {key: np.array(value, copy=True) for key, value in optimizer.state().items()}
    except (AttributeError, TypeError, ValueError) as error:
        raise subject.fail(check, f"state() must return a dict of arrays: {error}") from None
    values = [p.value.copy() for p in problem.params]
    _run(optimizer, problem.params, 3, problem.fill_grads)

    resumed = Quadratic(np.float64, seed=1)
    for p, value in zip(resumed.params, values):
        p.value[...] = value
    fresh = subject.make()
    fresh.setup(resumed.params)
    fresh.load_state(state)
    fresh.start_epoch(0)
    _run(fresh, resumed.params, 3, resumed.fill_grads)
    for a, b in zip(problem.params, resumed.params):
        if not np.array_equal(a.value, b.value):
            raise subject.fail(check, f"after load_state(state()) three more steps leave {a.name} different")
