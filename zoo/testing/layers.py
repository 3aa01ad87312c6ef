"""``check_layer``: gradients, float32 and float64, seeded randomness, training versus evaluation, model files."""

import numbers
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from zoo.catalog import Catalog
from zoo.config import ModelEntry
from zoo.errors import ZooError
from zoo.modelfile import load, save
from zoo.network import build_network
from zoo.testing.core import Subject, global_random_state_untouched
from zoo.testing.gradients import gradient_error, numeric_gradient, relative_difference

ROWS = 4
"""Batch rows of every check."""
FEATURES = 5
"""Input features, unless ``in_features`` says otherwise."""
FLOAT32_TOLERANCE = 1e-4
"""Allowed difference between float32 and float64 results, relative to their size."""
COMPANIONS = {"loss": "softmax_cross_entropy", "optimizer": "sgd", "batches": "full_batch"}
"""Built-in plugins that complete the one-layer entry of the model-file check."""


def check_layer(
    name: str, options: dict[str, Any] | None = None, *, catalog: Catalog | None = None, in_features: int = FEATURES
) -> None:
    """Check the layer ``name`` made with ``options``; raise ConformanceError on the first failure.

    - ``build`` returns a positive width; every parameter is a ``Param`` of the dtype asked
      for, with a gradient of its shape; parameter names are distinct.
    - Gradients: ``backward(dy)`` is the gradient of ``sum(forward(x) * dy)`` with respect to
      ``x`` and to every parameter (central differences, float64, relative error below 1e-6),
      in training and in evaluation mode, after a larger batch (so reused buffers are views and
      stale gradients must be overwritten); ``need_dx=False`` fills the same parameter
      gradients; ``forward`` leaves its input alone.
    - Randomness in training mode comes only from the Generator given to ``build``: two
      forwards from one state of it agree (zoo checkpoints save and restore that state), two
      layers built from one seed agree, and numpy's global random state is never touched.
    - Evaluation mode is deterministic: the same output every time, whatever ran before.
    - float32 stays float32 (outputs, ``dx``, parameters and gradients), and agrees with
      float64 on the same parameters to 1e-4.
    - Saving a one-layer network with :func:`zoo.modelfile.save` and loading it back restores
      every parameter and the evaluation output exactly (in float32 and float64); the entry
      around the layer uses zoo's built-in ``softmax_cross_entropy``, ``sgd`` and ``full_batch``.

    ``in_features`` is the width of the input batches, for layers that need a particular one.
    """
    subject = Subject.resolve("layer", name, options, catalog)
    with global_random_state_untouched(subject, "the random state check"):
        for training in (True, False):
            _check_gradients(subject, in_features, training)
        _check_float32(subject, in_features)
        _check_determinism(subject, in_features)
        _check_model_file(subject, in_features)


class _Probe:
    """A built layer whose Generator can be rewound, so a stochastic layer is a fixed function between rewinds."""

    def __init__(self, subject: Subject, in_features: int, dtype: type, seed: int):
        self.layer = subject.make()
        self.rng = np.random.default_rng(seed)
        width = self.layer.build(in_features, np.dtype(dtype), self.rng)
        if not isinstance(width, numbers.Integral) or isinstance(width, bool) or width < 1:
            raise subject.fail("the build check", f"build() returned {width!r}, not a positive number of features")
        self.width = int(width)
        self.params = list(self.layer.params())
        _check_params(subject, self.params, np.dtype(dtype))
        self.remember()

    def remember(self) -> None:
        """Make the Generator's current state the one every :meth:`forward` starts from."""
        self._state = self.rng.bit_generator.state

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self.rng.bit_generator.state = self._state
        return self.layer.forward(x, training)


def _check_params(subject: Subject, params: list, dtype: np.dtype) -> None:
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


def _inputs(rng: np.random.Generator, rows: int, cols: int, dtype: type = np.float64) -> np.ndarray:
    """Values of magnitude 0.2..1.5 with random signs: far from kinks at 0 such as ReLU's."""
    magnitude = rng.uniform(0.2, 1.5, size=(rows, cols))
    return (magnitude * rng.choice([-1.0, 1.0], size=(rows, cols))).astype(dtype)


def _check_array(subject: Subject, check: str, what: str, array: object, shape: tuple, dtype: type) -> None:
    if not isinstance(array, np.ndarray):
        raise subject.fail(check, f"{what} is {type(array).__name__}, not a numpy array")
    if array.shape != shape or array.dtype != dtype:
        expected = f"{np.dtype(dtype)}{list(shape)}"
        raise subject.fail(check, f"{what} is {array.dtype}{list(array.shape)}, expected {expected}")


def _check_gradients(subject: Subject, in_features: int, training: bool) -> None:
    check = f"the gradient check ({'training' if training else 'evaluation'} mode)"
    rng = np.random.default_rng(1)
    probe = _Probe(subject, in_features, np.float64, seed=0)
    big = _inputs(rng, ROWS + 3, in_features)
    probe.layer.forward(big, training)
    probe.layer.backward(rng.standard_normal((ROWS + 3, probe.width)))
    probe.remember()

    x, dy = _inputs(rng, ROWS, in_features), rng.standard_normal((ROWS, probe.width))
    before = x.copy()
    y = probe.forward(x, training)
    _check_array(subject, check, "forward's output", y, (ROWS, probe.width), np.float64)
    if not np.array_equal(x, before):
        raise subject.fail(check, "forward changed its input in place; the layer before may still need it")
    y = y.copy()
    if not np.array_equal(probe.forward(x, training), y):
        raise subject.fail(
            check,
            "two forwards on the same input, from the same state of the Generator given to build(), differ; "
            "draw randomness only from that Generator (zoo checkpoints save and restore its state)",
        )
    dx = probe.layer.backward(dy.copy())
    dx = dx.copy() if isinstance(dx, np.ndarray) else dx
    grads = [p.grad.copy() for p in probe.params]

    def objective() -> float:
        return float(np.sum(probe.forward(x, training) * dy))

    problem = gradient_error(dx, numeric_gradient(objective, x))
    if problem:
        raise subject.fail(check, f"dx (what backward returns): {problem}")
    for p, grad in zip(probe.params, grads):
        problem = gradient_error(grad, numeric_gradient(objective, p.value))
        if problem:
            raise subject.fail(check, f"{p.name}.grad: {problem}")

    probe.forward(x, training)
    for p in probe.params:
        p.grad[...] = np.nan
    probe.layer.backward(dy.copy(), need_dx=False)
    for p, grad in zip(probe.params, grads):
        if not np.all(np.isfinite(p.grad)) or relative_difference(p.grad, grad) > 1e-9:
            raise subject.fail(check, f"backward(dy, need_dx=False) fills {p.name}.grad differently from backward(dy)")


def _check_float32(subject: Subject, in_features: int) -> None:
    check = "the float32 check"
    p32, p64 = _Probe(subject, in_features, np.float32, 0), _Probe(subject, in_features, np.float64, 0)
    if p32.width != p64.width:
        raise subject.fail(check, f"built for float32 it gives {p32.width} features, for float64 {p64.width}")
    for a, b in zip(p32.params, p64.params):
        a.value[...] = b.value
    rng = np.random.default_rng(2)
    x64, dy64 = _inputs(rng, ROWS, in_features), rng.standard_normal((ROWS, p64.width))
    x32, dy32 = x64.astype(np.float32), dy64.astype(np.float32)
    shape = (ROWS, p32.width)
    for training in (True, False):
        mode = "training" if training else "evaluation"
        _check_array(subject, check, f"forward's output in {mode} mode", p32.forward(x32, training), shape, np.float32)
        dx = p32.layer.backward(dy32.copy())
        _check_array(subject, check, f"dx in {mode} mode", dx, x32.shape, np.float32)
        for p in p32.params:
            if p.value.dtype != np.float32 or p.grad.dtype != np.float32:
                raise subject.fail(check, f"after a {mode} step {p.name} is {p.value.dtype}, its grad {p.grad.dtype}")

    pairs = [("forward's output", p32.forward(x32, False).copy(), p64.forward(x64, False).copy())]
    pairs.append(("dx", p32.layer.backward(dy32.copy()).copy(), p64.layer.backward(dy64.copy()).copy()))
    pairs += [(f"{a.name}.grad", a.grad, b.grad) for a, b in zip(p32.params, p64.params)]
    for what, a, b in pairs:
        difference = relative_difference(a, b)
        if not difference <= FLOAT32_TOLERANCE:
            raise subject.fail(
                check,
                f"in evaluation mode, with the same parameters, its float32 {what} differs from float64 by "
                f"{difference:.1e} of its size (tolerance {FLOAT32_TOLERANCE:.0e})",
            )


def _check_determinism(subject: Subject, in_features: int) -> None:
    check = "the determinism check"
    a, b = _Probe(subject, in_features, np.float64, 3), _Probe(subject, in_features, np.float64, 3)
    for pa, pb in zip(a.params, b.params):
        if not np.array_equal(pa.value, pb.value):
            raise subject.fail(check, f"two builds from the same seed give different {pa.name}")
    x = _inputs(np.random.default_rng(4), ROWS, in_features)
    if not np.array_equal(a.layer.forward(x, True).copy(), b.layer.forward(x, True)):
        raise subject.fail(check, "two layers built from the same seed give different training-mode outputs")
    first = a.layer.forward(x, False).copy()
    a.layer.forward(x, True)
    if not (np.array_equal(a.layer.forward(x, False), first) and np.array_equal(b.layer.forward(x, False), first)):
        raise subject.fail(check, "evaluation-mode forward gives different outputs for the same input and parameters")


def _check_model_file(subject: Subject, in_features: int) -> None:
    check = "the model file round trip"
    for dtype in ("float64", "float32"):
        width = _Probe(subject, in_features, np.dtype(dtype).type, 0).width
        table = {key: {"type": name} for key, name in COMPANIONS.items()}
        table |= {"layers": [{"type": subject.name, **subject.options}], "train": {"steps": 1, "dtype": dtype}}
        try:
            entry = ModelEntry.from_table(f"check-{subject.name}", table, "zoo.testing", subject.catalog)
            network = build_network(entry, subject.catalog, in_features, width, np.random.SeedSequence(2024))
        except ZooError as error:
            raise subject.fail(check, f"a one-layer network of it cannot be built: {error}") from None
        rng = np.random.default_rng(5)
        for p in network.params:  # moved off any value a fresh build could give
            p.value += (0.05 * rng.standard_normal(p.value.shape)).astype(p.value.dtype)
        x = _inputs(rng, ROWS, in_features, np.dtype(dtype).type)
        expected = network.forward(x, False).copy()
        state = {key: value.copy() for key, value in network.state().items()}
        with tempfile.TemporaryDirectory(prefix="zoo-testing-") as directory:
            path = Path(directory) / "model.npz"
            try:
                save(path, network, entry, in_features=in_features, n_classes=width, meta={})
                loaded, _, _ = load(path, subject.catalog)
            except ZooError as error:
                raise subject.fail(check, f"saving and loading a one-layer {dtype} network failed: {error}") from None
        restored = loaded.state()
        for key, value in state.items():
            if key not in restored or restored[key].dtype != value.dtype or not np.array_equal(restored[key], value):
                raise subject.fail(check, f"{key} ({dtype}) did not come back as it was saved")
        output = loaded.forward(x, False)
        if not np.array_equal(output, expected):
            raise subject.fail(
                check,
                f"with every parameter restored, its {dtype} evaluation output differs from before saving by "
                f"{relative_difference(output, expected):.1e} of its size: forward uses state that params() misses",
            )
