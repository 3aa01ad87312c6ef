"""Numerical gradient checks for every registered layer and loss.

The tests are parametrised over ``catalog.names("layer")`` and ``catalog.names("loss")``,
so a plugin is checked the moment it registers a name. Each name needs an entry in
``LAYER_OPTIONS`` / ``LOSS_CASES`` below (the constructor options to check it with, and for
losses the kind of input it takes); a name without one fails with a message saying so.

Layers are checked on the scalar objective ``sum(forward(x) * R)`` for a fixed random ``R``:
``backward(R)`` must be its gradient with respect to ``x`` and to every parameter, by
central differences in float64. Stochastic layers (dropout) are checked in training mode with
their randomness held fixed: the generator handed to ``build`` is rewound to the same state
before every forward, so each forward draws the same mask and the layer is a fixed function.
"""

import inspect

import numpy as np
import pytest

from zoo.plugins import default_catalog

CATALOG = default_catalog()

EPS = 1e-6
"""Central-difference step (float64)."""
TOL = 1e-6
"""Allowed ``max|analytic - numeric| / max|gradient|``; a correct float64 gradient is at ~1e-9."""
N, IN = 4, 5
"""Batch rows and input features of the gradient checks."""
CLASSES = 4


def _initialiser(name, **options):
    return CATALOG.get("initialiser", name).factory(**options)


# Constructor options per layer name: a list of variants, each a zero-argument function
# returning the options (functions, because some options are initialiser objects).
# A plugin that adds a layer adds its name here; ``dict`` means "no options".
LAYER_OPTIONS = {
    "dense": [
        lambda: {"units": 3},
        lambda: {
            "units": 3,
            "weight_init": _initialiser("glorot_uniform"),
            "bias_init": _initialiser("uniform", low=-0.5, high=0.5),
        },
    ],
    "relu": [dict],
    "softmax": [dict],
    "dropout": [lambda: {"rate": 0.3}],
}

# Per loss name: what its ``output`` argument is ("logits": any reals, "probabilities": positive
# rows summing to 1) and the option sets to check it with.
LOSS_CASES = {
    "softmax_cross_entropy": ("logits", [{}, {"scale": 2.0}]),
    "cross_entropy": ("probabilities", [{}, {"scale": 2.0}]),
}


def _missing(kind, name, table, example):
    record = CATALOG.get(kind, name)
    pytest.fail(
        f"{kind} {name!r} (registered by plugin {record.plugin!r}) has no entry in {table} in "
        f"tests/test_gradients.py: add the constructor options to gradient-check it with, "
        f"e.g. {example}",
        pytrace=False,
    )


def _layer_cases():
    for name in CATALOG.names("layer"):
        variants = LAYER_OPTIONS.get(name, [None])
        for i, options in enumerate(variants):
            yield pytest.param(name, options, id=name if len(variants) == 1 else f"{name}-{i}")


def _loss_cases():
    for name in CATALOG.names("loss"):
        inputs, variants = LOSS_CASES.get(name, (None, [None]))
        for options in variants:
            suffix = "".join(f"-{k}={v}" for k, v in (options or {}).items())
            yield pytest.param(name, inputs, options, id=name + suffix)


LAYER_CASES = list(_layer_cases())
LOSS_PARAMS = list(_loss_cases())


def test_builtins_are_registered():
    """Guard against vacuous parametrisation: if a built-in plugin failed to load, say so."""
    assert not CATALOG.failures, CATALOG.failures
    assert {"dense", "relu", "softmax", "dropout"} <= set(CATALOG.names("layer"))
    assert {"softmax_cross_entropy", "cross_entropy"} <= set(CATALOG.names("loss"))


# ---------------------------------------------------------------------------------------------
# helpers


class Probe:
    """A built layer whose randomness is rewound before every forward, so it is a fixed function."""

    def __init__(self, name, options, dtype=np.float64, in_features=IN, seed=0):
        if options is None:
            _missing("layer", name, "LAYER_OPTIONS", f"{name!r}: [dict] if it needs none")
        self.layer = CATALOG.get("layer", name).factory(**options())
        self.rng = np.random.default_rng(seed)
        self.out_features = self.layer.build(in_features, np.dtype(dtype), self.rng)
        self._state = self.rng.bit_generator.state

    def params(self):
        return self.layer.params()

    def forward(self, x, training):
        self.rng.bit_generator.state = self._state
        return self.layer.forward(x, training)

    def objective(self, x, R, training):
        return float(np.sum(self.forward(x, training) * R))


def _layer_input(rng, rows, cols, dtype=np.float64):
    """Values of magnitude 0.2..1.5 with random signs: far from ReLU's kink at 0 (EPS is 1e-6)."""
    magnitude = rng.uniform(0.2, 1.5, size=(rows, cols))
    return (magnitude * rng.choice([-1.0, 1.0], size=(rows, cols))).astype(dtype)


def _numeric_gradient(f, array):
    """Central differences of the scalar ``f()`` with respect to ``array``, perturbed in place."""
    grad = np.zeros_like(array, dtype=np.float64)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + EPS
        plus = f()
        array[index] = saved - EPS
        minus = f()
        array[index] = saved
        grad[index] = (plus - minus) / (2 * EPS)
    return grad


def assert_gradient(analytic, numeric, what):
    assert analytic is not None, f"{what}: backward returned None"
    assert analytic.shape == numeric.shape, f"{what}: shape {analytic.shape}, expected {numeric.shape}"
    assert np.all(np.isfinite(analytic)), f"{what}: not finite"
    scale = max(np.abs(numeric).max(), np.abs(analytic).max(), 1e-12)
    error = np.abs(analytic - numeric).max() / scale
    assert error < TOL, (
        f"{what}: max|analytic - numeric| / max|grad| = {error:.2e} (tolerance {TOL:.0e})\n"
        f"analytic:\n{analytic}\nnumeric:\n{numeric}"
    )


def _loss_input(kind, rng, rows, dtype=np.float64):
    if kind == "logits":
        return rng.normal(0.0, 2.0, size=(rows, CLASSES)).astype(dtype)
    if kind == "probabilities":
        p = rng.uniform(0.2, 1.0, size=(rows, CLASSES))
        return (p / p.sum(axis=1, keepdims=True)).astype(dtype)
    raise AssertionError(f"unknown loss input kind {kind!r} in LOSS_CASES")


def _make_loss(name, options):
    if options is None:
        _missing("loss", name, "LOSS_CASES", f'{name!r}: ("logits" or "probabilities", [{{}}])')
    return CATALOG.get("loss", name).factory(**options)


# ---------------------------------------------------------------------------------------------
# layers


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name, options", LAYER_CASES)
def test_layer_gradients(name, options, training):
    probe = Probe(name, options)
    rng = np.random.default_rng(1)
    params = probe.params()
    for p in params:
        assert p.value.dtype == np.float64 and p.grad.dtype == np.float64, f"{name} {p.name}: not float64"
        assert p.grad.shape == p.value.shape, f"{name} {p.name}: grad shape {p.grad.shape} != {p.value.shape}"

    # Warm-up on a larger batch with other values: buffers are then reused as views, and
    # gradients left over from this backward must be overwritten, not accumulated.
    big = _layer_input(rng, N + 3, IN)
    probe.forward(big, training)
    probe.layer.backward(rng.normal(size=(N + 3, probe.out_features)))

    x = _layer_input(rng, N, IN)
    R = rng.normal(size=(N, probe.out_features))
    y = probe.forward(x, training)
    assert y.shape == (N, probe.out_features), f"{name}: forward gave shape {y.shape}"
    y = y.copy()
    again = probe.forward(x, training).copy()
    assert np.array_equal(y, again), (
        f"{name}: two forwards on the same input differ although the generator given to build() was "
        "rewound in between; a stochastic layer must draw only from that generator"
    )
    dx = probe.layer.backward(R.copy())
    assert dx is not None and dx.shape == x.shape, f"{name}: backward gave {None if dx is None else dx.shape}"
    dx = dx.copy()
    grads = [p.grad.copy() for p in params]

    def f():
        return probe.objective(x, R, training)

    assert_gradient(dx, _numeric_gradient(f, x), f"{name}: d/dx")
    for p, grad in zip(params, grads):
        assert_gradient(grad, _numeric_gradient(f, p.value), f"{name}: d/d{p.name}")

    # need_dx=False fills the same parameter gradients.
    probe.forward(x, training)
    for p in params:
        p.grad[...] = np.nan
    probe.layer.backward(R.copy(), need_dx=False)
    for p, grad in zip(params, grads):
        np.testing.assert_allclose(p.grad, grad, rtol=1e-12, atol=1e-14, err_msg=f"{name}: {p.name}, need_dx=False")


@pytest.mark.parametrize("name, options", LAYER_CASES)
def test_layer_float32_matches_float64(name, options):
    """Same seed in float32 and float64: close results, and float32 stays float32 end to end."""
    rng = np.random.default_rng(2)
    x64 = _layer_input(rng, N, IN)
    R64 = rng.normal(size=(N, 1))
    x32 = x64.astype(np.float32)
    p32, p64 = Probe(name, options, np.float32), Probe(name, options, np.float64)
    assert p32.out_features == p64.out_features
    R64 = np.broadcast_to(R64, (N, p64.out_features)).copy()
    R32 = R64.astype(np.float32)
    for a, b in zip(p32.params(), p64.params()):
        assert a.value.dtype == np.float32 and a.grad.dtype == np.float32, f"{name} {a.name}: not float32"
        np.testing.assert_allclose(a.value, b.value, rtol=1e-6, atol=1e-7, err_msg=f"{name}: initial {a.name}")

    for training in (True, False):
        y32 = p32.forward(x32, training)
        assert y32.dtype == np.float32, f"{name}: float32 forward (training={training}) gave {y32.dtype}"
        dx32 = p32.layer.backward(R32)
        assert dx32.dtype == np.float32, f"{name}: float32 backward (training={training}) gave {dx32.dtype}"
        for p in p32.params():
            assert p.grad.dtype == np.float32, f"{name}: {p.name}.grad became {p.grad.dtype}"

    # Values: in evaluation mode (a stochastic layer's float32 and float64 draws differ in training).
    y32 = p32.forward(x32, False).copy()
    y64 = p64.forward(x64, False).copy()
    np.testing.assert_allclose(y32, y64, rtol=1e-5, atol=1e-6, err_msg=f"{name}: forward float32 vs float64")
    dx32 = p32.layer.backward(R32).copy()
    dx64 = p64.layer.backward(R64).copy()
    np.testing.assert_allclose(dx32, dx64, rtol=1e-5, atol=1e-6, err_msg=f"{name}: dx float32 vs float64")
    for a, b in zip(p32.params(), p64.params()):
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-5, atol=1e-5, err_msg=f"{name}: d{a.name} float32 vs 64")


def test_dropout_backward_is_mask_times_dy():
    """The gradient check above holds the mask fixed; here: the mask is real and backward applies it."""
    rate = 0.3
    layer = CATALOG.get("layer", "dropout").factory(rate=rate)
    layer.build(50, np.dtype(np.float64), np.random.default_rng(3))
    rng = np.random.default_rng(4)
    x = _layer_input(rng, 40, 50)
    y = layer.forward(x, training=True).copy()
    mask = y / x
    kept = mask != 0
    assert 0 < kept.mean() < 1, "training forward dropped nothing or everything"
    np.testing.assert_allclose(mask[kept], 1 / (1 - rate), rtol=1e-12)
    dy = rng.normal(size=x.shape)
    np.testing.assert_allclose(layer.backward(dy), mask * dy, rtol=1e-12, atol=0)
    # A second forward draws a new mask, and backward follows the latest one.
    y2 = layer.forward(x, training=True).copy()
    assert not np.array_equal(y2 != 0, kept), "the mask did not change between steps"
    np.testing.assert_allclose(layer.backward(dy), (y2 / x) * dy, rtol=1e-12, atol=0)


def test_builtin_layer_values():
    """Forward values against direct formulas (a gradient check alone accepts a consistently wrong forward)."""
    rng = np.random.default_rng(5)
    x = _layer_input(rng, N, IN)
    dense = Probe("dense", LAYER_OPTIONS["dense"][1])
    W, b = (p.value for p in dense.params())
    assert W.shape == (IN, 3) and b.shape == (3,) and np.any(b != 0)
    np.testing.assert_allclose(dense.forward(x, True), x @ W + b, rtol=1e-12)
    np.testing.assert_array_equal(Probe("relu", dict).forward(x, True), np.maximum(x, 0))
    e = np.exp(x)
    np.testing.assert_allclose(Probe("softmax", dict).forward(x, True), e / e.sum(axis=1, keepdims=True), rtol=1e-12)
    huge = Probe("softmax", dict).forward(np.array([[1e4, 0.0, -1e4]]), True)
    np.testing.assert_allclose(huge, [[1.0, 0.0, 0.0]], atol=1e-300)


# ---------------------------------------------------------------------------------------------
# losses


@pytest.mark.parametrize("name, inputs, options", LOSS_PARAMS)
def test_loss_gradient(name, inputs, options):
    loss = _make_loss(name, options)
    rng = np.random.default_rng(6)
    # Warm-up on a larger batch: buffers reused as views must not leak into the next result.
    loss.forward(_loss_input(inputs, rng, N + 3), rng.integers(0, CLASSES, N + 3))
    loss.backward()

    output = _loss_input(inputs, rng, N + 2)
    labels = rng.integers(0, CLASSES, N + 2)
    value = loss.forward(output, labels)
    assert isinstance(value, float) and np.isfinite(value), f"{name}: forward gave {value!r}"
    grad = loss.backward()
    assert grad.shape == output.shape and grad.dtype == np.float64, f"{name}: backward gave {grad.shape} {grad.dtype}"
    grad = grad.copy()
    # Perturbed without renormalising: the loss is a function of every entry of its input.
    numeric = _numeric_gradient(lambda: loss.forward(output, labels), output)
    assert_gradient(grad, numeric, f"{name}{options}: d loss / d output")


@pytest.mark.parametrize(
    "name",
    [n for n in CATALOG.names("loss") if "scale" in inspect.signature(CATALOG.get("loss", n).factory).parameters],
)
def test_loss_scale_multiplies_loss_and_gradient(name):
    inputs = LOSS_CASES.get(name, ("logits", None))[0]
    rng = np.random.default_rng(7)
    output, labels = _loss_input(inputs, rng, N), rng.integers(0, CLASSES, N)
    one, two = CATALOG.get("loss", name).factory(scale=1.0), CATALOG.get("loss", name).factory(scale=2.0)
    np.testing.assert_allclose(two.forward(output, labels), 2 * one.forward(output, labels), rtol=1e-12)
    np.testing.assert_allclose(two.backward(), 2 * one.backward(), rtol=1e-12)


@pytest.mark.parametrize("name, inputs, options", LOSS_PARAMS)
def test_loss_float32_matches_float64(name, inputs, options):
    loss32, loss64 = _make_loss(name, options), _make_loss(name, options)
    rng = np.random.default_rng(8)
    out64 = _loss_input(inputs, rng, N)
    labels = rng.integers(0, CLASSES, N)
    out32 = out64.astype(np.float32)
    value32, value64 = loss32.forward(out32, labels), loss64.forward(out64, labels)
    np.testing.assert_allclose(value32, value64, rtol=1e-5)
    grad32, grad64 = loss32.backward(), loss64.backward()
    assert grad32.dtype == np.float32, f"{name}: float32 gradient came back as {grad32.dtype}"
    np.testing.assert_allclose(grad32, grad64, rtol=1e-5, atol=1e-6)


def test_builtin_loss_values():
    """Loss values against direct formulas (the gradient check alone accepts a consistently wrong loss)."""
    rng = np.random.default_rng(9)
    logits, labels = rng.normal(size=(N, CLASSES)), rng.integers(0, CLASSES, N)
    rows = np.arange(N)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = -np.log(p[rows, labels]).mean()
    assert CATALOG.get("loss", "softmax_cross_entropy").factory().forward(logits, labels) == pytest.approx(expected)
    assert CATALOG.get("loss", "cross_entropy").factory().forward(p, labels) == pytest.approx(expected)
