"""``check_layer``: build, gradients, float32 and float64, seeded randomness, layer state, model files, ONNX export."""

import math
import numbers
import tempfile
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from zoo.catalog import Catalog
from zoo.config import ModelEntry
from zoo.errors import ConfigError, ZooError
from zoo.layers import is_shape
from zoo.modelfile import load, save
from zoo.network import build_network
from zoo.testing.core import Subject, global_random_state_untouched
from zoo.testing.gradients import gradient_error, numeric_gradient, relative_difference
from zoo.testing.onnx import check_export
from zoo.testing.probe import Probe

ROWS = 4
"""Batch rows of every check: batches are ``(ROWS, *in_shape)``."""
IN_SHAPE = (5,)
"""Per-sample input shape, unless ``in_shape`` says otherwise."""
FLOAT32_TOLERANCE = 1e-4
"""Allowed difference between float32 and float64 results, relative to their size."""
COMPANIONS = {"loss": "softmax_cross_entropy", "optimizer": "sgd", "batches": "full_batch"}
"""Built-in plugins that complete the one-layer entry of the model-file check."""


def check_layer(
    name: str,
    options: dict[str, Any] | None = None,
    *,
    catalog: Catalog | None = None,
    in_shape: tuple[int, ...] | None = None,
    in_features: int | None = None,
) -> None:
    """Check the layer ``name`` made with ``options`` on batches ``(4, *in_shape)``; raise ConformanceError if it fails.

    - Build: ``build`` returns a valid output shape (contract 2: a tuple of positive integers;
      contract 1, a layer without ``zoo_contract``: a positive int, and the layer is then checked
      through :class:`zoo.layers.FlatLayer`, as networks run it); an exception it raises is a
      failure naming the in_shape; every parameter is a ``Param`` of the dtype asked for, with a
      gradient of its shape; parameter names are distinct. ``forward`` gives ``(4, *out_shape)``.
    - State (optional ``state()`` and ``load_state()``, both or neither): names distinct from the
      parameters', numpy arrays, floating ones of the build's dtype; ``load_state`` sets exactly
      what it is given and ``state()`` gives it back.
    - Gradients: ``backward(dy)`` is the gradient of ``sum(forward(x) * dy)`` with respect to
      ``x`` and to every parameter (central differences, float64, relative error below 1e-6),
      in training and in evaluation mode, after a larger batch (so reused buffers are views and
      stale gradients must be overwritten); ``need_dx=False`` fills the same parameter
      gradients; ``forward`` leaves its input alone.
    - Randomness in training mode comes only from the Generator given to ``build``: two
      forwards from one state of it (and one layer state) agree (zoo checkpoints save and
      restore both), two layers built from one seed agree, and numpy's global random state is
      never touched.
    - Evaluation mode is deterministic given the layer's state: it changes no state, gives
      the same output every time from the same state, whatever ran before, and each sample's
      output depends on that sample alone; training-mode forwards may update the state (batch
      norm's running statistics).
    - Fused descent, for a layer that defines ``backward_descent(dy, rates, need_dx)``: on a batch
      and on one sample, it returns what ``backward`` returns and leaves every parameter at
      ``value - rate·grad`` (float64, relative error below 1e-9), as ``backward`` followed by
      plain SGD would.
    - float32 stays float32 (outputs, ``dx``, parameters, gradients and state), and agrees
      with float64 on the same parameters and state to 1e-4.
    - Saving a one-layer network (with ``flatten`` after it if its output has several axes)
      with :func:`zoo.modelfile.save`, after training-mode forwards moved its state, and loading
      it back restores every parameter, every state array and the evaluation output exactly
      (in float32 and float64); the entry around the layer uses zoo's built-in
      ``softmax_cross_entropy``, ``sgd`` and ``full_batch``.
    - ONNX export, for a layer that defines ``to_onnx`` (see :mod:`zoo.onnx_export`): the layer
      alone as an ONNX graph (in float32, its parameters and state moved off their built values)
      is valid, gives the sample shape ``build`` said and, run by onnx's ``ReferenceEvaluator``,
      what ``forward(x, training=False)`` gives, to 1e-5 of its size, on the batch and on one
      sample of it. Without the ``onnx`` package, or if ``to_onnx`` raises ``NotImplementedError``
      for these options, this part warns :class:`zoo.testing.NotChecked` instead.

    ``in_shape`` is one input sample's shape, channels first: ``(5,)`` unless given; a layer on
    images (convolution, pooling) takes ``(C, H, W)``, e.g. ``in_shape=(2, 6, 6)``: keep it small,
    the gradient check runs two forwards per input value. ``in_features=n`` (zoo 0.1's keyword)
    is ``in_shape=(n,)``.
    """
    shape = _in_shape(name, in_shape, in_features)
    subject = attrs.evolve(Subject.resolve("layer", name, options, catalog), given=(("in_shape", shape),))
    with global_random_state_untouched(subject, "the random state check"):
        _check_determinism(subject, shape)
        for training in (True, False):
            _check_gradients(subject, shape, training)
        for rows in (ROWS, 1):
            _check_descent(subject, shape, rows)
        _check_float32(subject, shape)
        _check_model_file(subject, shape)
    check_export(subject, shape, _inputs(np.random.default_rng(6), (ROWS, *shape), np.float32))


def _in_shape(name: str, in_shape: object, in_features: object) -> tuple[int, ...]:
    source = f"zoo.testing: layer {name!r}"
    if in_features is not None:
        if isinstance(in_features, bool) or not isinstance(in_features, numbers.Integral) or in_features < 1:
            raise ConfigError(f"{source}: in_features must be a positive integer, got {in_features!r}")
        if in_shape is not None:
            raise ConfigError(f"{source}: give in_shape or in_features (its old name, for flat input), not both")
        return (int(in_features),)
    if in_shape is None:
        return IN_SHAPE
    shape = tuple(in_shape) if isinstance(in_shape, (tuple, list)) else in_shape
    if not is_shape(shape):
        raise ConfigError(
            f"{source}: in_shape must be a tuple of positive integers such as (5,) or (2, 6, 6), got {in_shape!r}"
        )
    return tuple(int(n) for n in shape)


def _inputs(rng: np.random.Generator, shape: tuple[int, ...], dtype: type = np.float64) -> np.ndarray:
    """Values of magnitude 0.2..1.5 with random signs: far from kinks at 0 such as ReLU's."""
    return (rng.uniform(0.2, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)).astype(dtype)


def _check_array(subject: Subject, check: str, what: str, array: object, shape: tuple, dtype: type) -> None:
    if not isinstance(array, np.ndarray):
        raise subject.fail(check, f"{what} is {type(array).__name__}, not a numpy array")
    if array.shape != shape or array.dtype != dtype:
        expected = f"{np.dtype(dtype)}{list(shape)}"
        raise subject.fail(check, f"{what} is {array.dtype}{list(array.shape)}, expected {expected}")


def _check_gradients(subject: Subject, in_shape: tuple, training: bool) -> None:
    check = f"the gradient check ({'training' if training else 'evaluation'} mode)"
    rng = np.random.default_rng(1)
    probe = Probe(subject, in_shape, np.float64, seed=0)
    probe.layer.forward(_inputs(rng, (ROWS + 3, *in_shape)), training)
    probe.layer.backward(rng.standard_normal((ROWS + 3, *probe.out_shape)))
    probe.remember()

    x, dy = _inputs(rng, (ROWS, *in_shape)), rng.standard_normal((ROWS, *probe.out_shape))
    before = x.copy()
    y = probe.forward(x, training)
    _check_array(subject, check, "forward's output", y, (ROWS, *probe.out_shape), np.float64)
    if not np.array_equal(x, before):
        raise subject.fail(check, "forward changed its input in place; the layer before may still need it")
    y = y.copy()
    if not np.array_equal(probe.forward(x, training), y):
        raise subject.fail(
            check,
            "two forwards on the same input, from the same state of the Generator given to build() and the same "
            "state(), differ; draw randomness only from that Generator (zoo checkpoints save and restore its state)",
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


def _check_descent(subject: Subject, in_shape: tuple, rows: int) -> None:
    """``backward_descent`` against ``backward`` then ``value -= rate·grad``, from the same parameters."""
    probe = Probe(subject, in_shape, np.float64, seed=0)
    fused = getattr(probe.layer, "backward_descent", None)
    if fused is None or not probe.params:
        return
    check = f"the fused descent check ({rows} row{'s' if rows > 1 else ''})"
    rng = np.random.default_rng(7)
    x, dy = _inputs(rng, (rows, *in_shape)), rng.standard_normal((rows, *probe.out_shape))
    rates = [0.1 * (i + 1) for i in range(len(probe.params))]
    before = [p.value.copy() for p in probe.params]
    probe.forward(x, True)
    dx = probe.layer.backward(dy.copy())
    dx = dx.copy() if isinstance(dx, np.ndarray) else dx
    expected = [value - rate * p.grad for value, rate, p in zip(before, rates, probe.params)]
    probe.forward(x, True)
    fused_dx = fused(dy.copy(), rates, need_dx=True)
    same_shape = isinstance(fused_dx, np.ndarray) and fused_dx.shape == dx.shape
    if not same_shape or relative_difference(fused_dx, dx) > 1e-9:
        raise subject.fail(
            check, "backward_descent returns a different dx from backward's (compute dx before updating)"
        )
    for p, want in zip(probe.params, expected):
        if relative_difference(p.value, want) > 1e-9:
            raise subject.fail(check, f"backward_descent leaves {p.name} elsewhere than value - rate * grad")


def _check_float32(subject: Subject, in_shape: tuple) -> None:
    check = "the float32 check"
    p32, p64 = Probe(subject, in_shape, np.float32, 0), Probe(subject, in_shape, np.float64, 0)
    if p32.out_shape != p64.out_shape:
        raise subject.fail(check, f"built for float32 it gives samples of {p32.out_shape}, for float64 {p64.out_shape}")
    for a, b in zip(p32.params, p64.params):
        a.value[...] = b.value
    if p64.saved:
        p32.layer.load_state({key: value.astype(p32.saved[key].dtype) for key, value in p64.saved.items()})
        p32.remember()
    rng = np.random.default_rng(2)
    x64, dy64 = _inputs(rng, (ROWS, *in_shape)), rng.standard_normal((ROWS, *p64.out_shape))
    x32, dy32 = x64.astype(np.float32), dy64.astype(np.float32)
    shape = (ROWS, *p32.out_shape)
    for training in (True, False):  # both alike, so that even state a layer hides cannot tell them apart
        mode = "training" if training else "evaluation"
        p64.forward(x64, training)
        p64.layer.backward(dy64.copy())
        _check_array(subject, check, f"forward's output in {mode} mode", p32.forward(x32, training), shape, np.float32)
        dx = p32.layer.backward(dy32.copy())
        _check_array(subject, check, f"dx in {mode} mode", dx, x32.shape, np.float32)
        for p in p32.params:
            if p.value.dtype != np.float32 or p.grad.dtype != np.float32:
                raise subject.fail(check, f"after a {mode} step {p.name} is {p.value.dtype}, its grad {p.grad.dtype}")
        for key, value in p32.state().items():
            if value.dtype != p32.saved[key].dtype:
                raise subject.fail(check, f"after a {mode} step its state {key!r} is {value.dtype}, built as float32")

    pairs = [("forward's output", p32.forward(x32, False).copy(), p64.forward(x64, False).copy())]
    pairs.append(("dx", p32.layer.backward(dy32.copy()).copy(), p64.layer.backward(dy64.copy()).copy()))
    pairs += [(f"{a.name}.grad", a.grad, b.grad) for a, b in zip(p32.params, p64.params)]
    for what, a, b in pairs:
        difference = relative_difference(a, b)
        if not difference <= FLOAT32_TOLERANCE:
            raise subject.fail(
                check,
                f"in evaluation mode, with the same parameters and state, its float32 {what} differs from float64 "
                f"by {difference:.1e} of its size (tolerance {FLOAT32_TOLERANCE:.0e})",
            )


def _check_determinism(subject: Subject, in_shape: tuple) -> None:
    check = "the determinism check"
    a, b = Probe(subject, in_shape, np.float64, 3), Probe(subject, in_shape, np.float64, 3)
    for pa, pb in zip(a.params, b.params):
        if not np.array_equal(pa.value, pb.value):
            raise subject.fail(check, f"two builds from the same seed give different {pa.name}")
    _same_state(subject, check, a.state(), b.state(), "two builds from the same seed give")
    x = _inputs(np.random.default_rng(4), (ROWS, *in_shape))
    if not np.array_equal(a.layer.forward(x, True).copy(), b.layer.forward(x, True)):
        raise subject.fail(check, "two layers built from the same seed give different training-mode outputs")
    _same_state(subject, check, a.state(), b.state(), "the same training-mode forward on two layers built alike leaves")
    a.remember()
    first = a.layer.forward(x, False).copy()
    _same_state(subject, check, a.state(), a.saved, "an evaluation-mode forward must change no state, but it leaves")
    a.layer.forward(x, True)
    a.restore_state()
    if not (np.array_equal(a.layer.forward(x, False), first) and np.array_equal(b.layer.forward(x, False), first)):
        state = f"state() holds {sorted(a.saved)}" if a.saved else "it has no state()"
        raise subject.fail(
            check,
            "evaluation-mode forward gives different outputs for the same input, parameters and state "
            f"({state}: statistics forward keeps, such as running means, belong in state() and load_state())",
        )
    half = ROWS // 2
    if not relative_difference(a.layer.forward(x[half:], False), first[half:]) <= 1e-10:
        raise subject.fail(
            check,
            "in evaluation mode, a sample's output depends on the other samples of its batch: batch statistics "
            "are for training, evaluation uses state such as running means",
        )


def _same_state(subject: Subject, check: str, a: dict, b: dict, what: str) -> None:
    for key in sorted(set(a) | set(b)):
        if key not in a or key not in b or not np.array_equal(a[key], b[key]):
            raise subject.fail(check, f"{what} different state {key!r}")


def _check_model_file(subject: Subject, in_shape: tuple) -> None:
    check = "the model file round trip"
    out_shape = Probe(subject, in_shape, np.float64, 0).out_shape
    layers = [{"type": subject.name, **subject.options}] + ([{"type": "flatten"}] if len(out_shape) > 1 else [])
    for dtype in ("float64", "float32"):
        table = {key: {"type": name} for key, name in COMPANIONS.items()}
        table |= {"layers": layers, "train": {"steps": 1, "dtype": dtype}}
        try:
            entry = ModelEntry.from_table(f"check-{subject.name}", table, "zoo.testing", subject.catalog)
            network = build_network(
                entry, subject.catalog, in_shape, math.prod(out_shape), np.random.SeedSequence(2024)
            )
        except ZooError as error:
            raise subject.fail(check, f"a one-layer network of it cannot be built: {error}") from None
        rng = np.random.default_rng(5)
        for p in network.params:  # moved off any value a fresh build could give
            p.value += (0.05 * rng.standard_normal(p.value.shape)).astype(p.value.dtype)
        for _ in range(2):  # training-mode forwards move any state (running statistics) off its built value
            network.forward(_inputs(rng, (ROWS, *in_shape), np.dtype(dtype).type), True)
        x = _inputs(rng, (ROWS, *in_shape), np.dtype(dtype).type)
        expected = network.forward(x, False).copy()
        state = {key: value.copy() for key, value in network.state().items()}
        with tempfile.TemporaryDirectory(prefix="zoo-testing-") as directory:
            path = Path(directory) / "model.npz"
            try:
                save(path, network, entry, meta={})
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
                f"with every parameter and state array restored, its {dtype} evaluation output differs from before "
                f"saving by {relative_difference(output, expected):.1e} of its size: forward uses values that "
                "params() and state() miss",
            )
