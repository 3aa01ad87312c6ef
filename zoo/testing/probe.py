"""A layer under test, built as the network builds it: its output shape, parameters and state checked,
its Generator and state rewindable so that a stochastic or stateful layer is a fixed function."""

import math
import numbers
from typing import Any

import numpy as np

from zoo.errors import ZooError, one_line
from zoo.layers import CONTRACTS, FlatLayer, contract_of, is_shape
from zoo.testing.core import Subject

IMAGE_SHAPE = (2, 6, 6)
"""A small ``(C, H, W)`` for layers on images: the gradient check perturbs every input value one by one."""


class Probe:
    """A built layer whose Generator and state can be rewound, so a stochastic or stateful layer is a fixed function."""

    def __init__(self, subject: Subject, in_shape: tuple[int, ...], dtype: type, seed: int):
        self.dtype = np.dtype(dtype)
        self.rng = np.random.default_rng(seed)
        self.layer, self.out_shape = build(subject, in_shape, self.dtype, self.rng)
        self.params = list(self.layer.params())
        check_params(subject, self.params, self.dtype)
        check_state(subject, self.layer, self.params, self.dtype)
        self.remember()

    def state(self) -> dict[str, np.ndarray]:
        """A copy of the layer's state (empty for a layer without one)."""
        state = getattr(self.layer, "state", None)
        return {key: value.copy() for key, value in state().items()} if state is not None else {}

    def remember(self) -> None:
        """Make the Generator's and the layer's current states the ones every :meth:`forward` starts from."""
        self._rng_state = self.rng.bit_generator.state
        self.saved = self.state()

    def restore_state(self) -> None:
        if self.saved:
            self.layer.load_state({key: value.copy() for key, value in self.saved.items()})

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self.rng.bit_generator.state = self._rng_state
        self.restore_state()
        return self.layer.forward(x, training)


def build(subject: Subject, in_shape: tuple, dtype: np.dtype, rng: np.random.Generator) -> tuple[Any, tuple]:
    """A fresh layer built for ``in_shape``, seen through contract 2, and its output shape."""
    check = "the build check"
    layer = subject.make()
    contract = contract_of(layer)
    if contract not in CONTRACTS:
        raise subject.fail(check, f"it declares zoo_contract = {contract!r}; zoo runs layer contracts {CONTRACTS}")
    if contract == 1 and all(callable(getattr(layer, method, None)) for method in ("state", "load_state")):
        raise subject.fail(
            "the state check",
            "it has state() and load_state(), but is a contract-1 layer (no zoo_contract), whose state zoo never "
            "saves: declare zoo_contract = 2 and build(in_shape, dtype, rng) -> out_shape",
        )
    given = math.prod(in_shape) if contract == 1 else in_shape
    try:
        out = layer.build(given, dtype, rng)
    except Exception as error:
        hint = ""
        if len(in_shape) == 1:
            hint = f"; a layer on images is checked with in_shape=(C, H, W), e.g. in_shape={IMAGE_SHAPE}"
        detail = f"build({given!r}, {dtype}, rng) raised {type(error).__name__}: {one_line(error)}{hint}"
        raise subject.fail(check, detail) from (None if isinstance(error, ZooError) else error)
    if contract == 1:
        if isinstance(out, bool) or not isinstance(out, numbers.Integral) or out < 1:
            raise subject.fail(
                check,
                f"build({given}) returned {out!r}, not a positive number of features: a contract-1 layer (one "
                "without zoo_contract) returns an int; one that returns a shape declares zoo_contract = 2",
            )
        return FlatLayer(layer, in_shape=tuple(in_shape)), (int(out),)
    if not (isinstance(out, tuple) and is_shape(out)):
        raise subject.fail(
            check,
            f"build({given}) returned {out!r}, not an output shape: a contract-2 layer returns a tuple of "
            "positive integers such as (128,) or (6, 28, 28)",
        )
    return layer, tuple(int(n) for n in out)


def check_params(subject: Subject, params: list, dtype: np.dtype) -> None:
    check = "the parameter check"
    names = [getattr(p, "name", None) for p in params]
    if len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
        raise subject.fail(check, f"parameter names {names} are not distinct non-empty strings (model files use them)")
    for p in params:
        value, grad = getattr(p, "value", None), getattr(p, "grad", None)
        if not isinstance(value, np.ndarray) or not isinstance(grad, np.ndarray):
            raise subject.fail(check, f"{p.name}: value and grad must be numpy arrays (zoo.layers.Param)")
        if value.dtype != dtype or grad.dtype != dtype:
            raise subject.fail(check, f"{p.name}: built for {dtype}, its value is {value.dtype}, its grad {grad.dtype}")
        if grad.shape != value.shape:
            raise subject.fail(check, f"{p.name}: grad has shape {grad.shape}, its value {value.shape}")


def check_state(subject: Subject, layer: Any, params: list, dtype: np.dtype) -> None:
    """``state()`` and ``load_state()``: both or neither, plain arrays under free names, set and read back exactly."""
    check = "the state check"
    methods = {name: getattr(layer, name, None) for name in ("state", "load_state")}
    if all(method is None for method in methods.values()):
        return
    for name, method in methods.items():
        if method is not None and not callable(method):
            raise subject.fail(
                check,
                f"its attribute {name} is {type(method).__name__}, not a method: zoo calls {name}() on layers to "
                "save and restore arrays that are not trained, so the name is taken",
            )
    if any(method is None for method in methods.values()):
        raise subject.fail(check, "it has one of state() and load_state() but not the other; model files need both")
    state = layer.state()
    if not isinstance(state, dict) or not all(isinstance(key, str) and key for key in state):
        raise subject.fail(check, f"state() returned {type(state).__name__}, not a dict of non-empty names to arrays")
    clash = sorted(set(state) & {p.name for p in params})
    if clash:
        raise subject.fail(check, f"state() and params() both use the names {clash}; model files keep both per layer")
    for key, value in state.items():
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
            raise subject.fail(check, f"state()[{key!r}] is {type(value).__name__}, not a numpy array of numbers")
        if value.dtype.kind == "f" and value.dtype != dtype:
            raise subject.fail(check, f"state()[{key!r}]: built for {dtype}, it is {value.dtype}")
    original = {key: value.copy() for key, value in state.items()}
    for given in (_moved(original), original):
        layer.load_state({key: value.copy() for key, value in given.items()})
        back = layer.state()
        for key, value in given.items():
            if key not in back or back[key].dtype != value.dtype or not np.array_equal(back[key], value):
                raise subject.fail(
                    check,
                    f"after load_state(arrays), state() gives {key!r} other than the array given: load_state must "
                    "set the layer's state to what it is given (model files and checkpoints restore it so)",
                )


def _moved(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Other values of the same shapes and dtypes (variances stay positive)."""
    return {key: ~value if value.dtype.kind == "b" else value + value.dtype.type(1) for key, value in state.items()}
