"""Layers and losses: the conformance kit on every registered name, then what only the built-ins promise.

``zoo.testing.check_layer`` and ``check_loss`` gradient-check every layer and loss the catalog
holds (input and every parameter, training and evaluation mode, float32 and float64, seeding,
model files), so a plugin is checked the moment it registers a name. A name that needs options
(or, for a layer on images, an ``in_shape``) gets them from ``LAYERS`` / ``LOSSES`` below; without
an entry it is checked with none, and a required option then fails saying which.
"""

import copy

import numpy as np
import pytest

import zoo.testing
from zoo.loading import default_catalog
from zoo.testing.core import Subject

CATALOG = default_catalog()

IMAGES = (2, 6, 6)
"""Small images ``(C, H, W)``: the gradient check runs two forwards per input value, so keep them few."""
# Per layer name: check_layer keyword variants (options as in a registry entry, and in_shape for layers on
# images); names not listed are checked with neither, on flat samples (5,). Names not (yet) registered are unused.
LAYERS = {
    "dense": [
        {"options": {"units": 3}},
        {
            "options": {
                "units": 3,
                "weight_init": "glorot_uniform",
                "bias_init": {"type": "uniform", "low": -0.5, "high": 0.5},
            }
        },
        {"options": {"units": 3}, "in_shape": IMAGES},  # flattens its input itself
    ],
    "flatten": [{"in_shape": IMAGES}, {"in_shape": (3, 4)}],
    "relu": [{}, {"in_shape": IMAGES}],
    "tanh": [{}, {"in_shape": IMAGES}],
    "sigmoid": [{}, {"in_shape": IMAGES}],
    "dropout": [{"options": {"rate": 0.3}}, {"options": {"rate": 0.3}, "in_shape": IMAGES}],
    "conv2d": [
        {"options": {"filters": 3, "kernel": 3}, "in_shape": IMAGES},
        {"options": {"filters": 2, "kernel": 3, "padding": "same"}, "in_shape": IMAGES},
        {"options": {"filters": 2, "kernel": 3, "stride": 2, "padding": 1}, "in_shape": (2, 7, 7)},
        {"options": {"filters": 2, "kernel": 2, "stride": 2}, "in_shape": (1, 6, 6)},
    ],
    "maxpool2d": [
        {"options": {"size": 2}, "in_shape": IMAGES},
        {"options": {"size": 3, "stride": 3}, "in_shape": IMAGES},
    ],
    "avgpool2d": [
        {"options": {"size": 2}, "in_shape": IMAGES},
        {"options": {"size": 3, "stride": 3}, "in_shape": IMAGES},
    ],
    "global_avgpool": [{"in_shape": IMAGES}],
    "batchnorm": [  # after dense (flat) and after conv (per channel)
        {},
        {"in_shape": IMAGES},
        {"options": {"momentum": 0.8, "eps": 1e-3}, "in_shape": IMAGES},
    ],
}
# Per loss name: check_loss keyword variants (options, and output="logits" for a loss on any real output).
LOSSES = {
    "softmax_cross_entropy": [{"output": "logits"}, {"options": {"scale": 2.0}, "output": "logits"}],
    "cross_entropy": [{}, {"options": {"scale": 2.0}}],
}


def _variants(kind, table, default):
    for name in CATALOG.names(kind):
        variants = table.get(name, [default])
        for i, variant in enumerate(variants):
            yield pytest.param(name, variant, id=name if len(variants) == 1 else f"{name}-{i}")


def test_builtins_are_registered():
    """Guard against vacuous parametrisation: if a built-in plugin failed to load, say so."""
    assert not CATALOG.failures, CATALOG.failures
    assert {"dense", "relu", "softmax", "dropout"} <= set(CATALOG.names("layer"))
    assert {"softmax_cross_entropy", "cross_entropy"} <= set(CATALOG.names("loss"))


@pytest.mark.parametrize("name, kwargs", list(_variants("layer", LAYERS, {})))
def test_layer_conforms(name, kwargs):
    zoo.testing.check_layer(name, catalog=CATALOG, **kwargs)


@pytest.mark.parametrize("name, kwargs", list(_variants("loss", LOSSES, {})))
def test_loss_conforms(name, kwargs):
    zoo.testing.check_loss(name, catalog=CATALOG, **kwargs)


# ---------------------------------------------------------------------------------------------
# what the built-ins promise beyond the kit


def _layer(name, in_features=5, dtype=np.float64, seed=0, **options):
    layer = CATALOG.get("layer", name).factory(**options)
    layer.build((in_features,), np.dtype(dtype), np.random.default_rng(seed))
    return layer


def _inputs(rng, rows, cols):
    """Values of magnitude 0.2..1.5 with random signs (away from ReLU's kink)."""
    return rng.uniform(0.2, 1.5, size=(rows, cols)) * rng.choice([-1.0, 1.0], size=(rows, cols))


def test_dropout_backward_is_mask_times_dy():
    """The kit holds the mask fixed to gradient-check dropout; here: the mask is real and backward applies it."""
    rate = 0.3
    layer = _layer("dropout", 50, seed=3, rate=rate)
    rng = np.random.default_rng(4)
    x = _inputs(rng, 40, 50)
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
    x = _inputs(np.random.default_rng(5), 4, 5)
    dense = _layer(
        "dense",
        units=3,
        weight_init=CATALOG.get("initialiser", "glorot_uniform").factory(),
        bias_init=CATALOG.get("initialiser", "uniform").factory(low=-0.5, high=0.5),
    )
    W, b = (p.value for p in dense.params())
    assert W.shape == (5, 3) and b.shape == (3,) and np.any(b != 0)
    np.testing.assert_allclose(dense.forward(x, True), x @ W + b, rtol=1e-12)
    np.testing.assert_array_equal(_layer("relu").forward(x, True), np.maximum(x, 0))
    e = np.exp(x)
    np.testing.assert_allclose(_layer("softmax").forward(x, True), e / e.sum(axis=1, keepdims=True), rtol=1e-12)
    huge = _layer("softmax", 3).forward(np.array([[1e4, 0.0, -1e4]]), True)
    np.testing.assert_allclose(huge, [[1.0, 0.0, 0.0]], atol=1e-300)


@pytest.mark.parametrize("name, kwargs", list(_variants("layer", LAYERS, {})))
def test_a_deep_copy_of_a_used_layer_computes_as_the_layer_does_and_trains_apart(name, kwargs):
    """``copy.deepcopy`` (of a layer, a network, a ``zoo.Model``) gives a layer that computes as the original,
    at the batch sizes it ran before the copy and at a new one, and whose descent leaves the original alone:
    a layer's views into its own buffers must not become copies that no longer see those buffers."""
    subject = Subject.resolve("layer", name, kwargs.get("options"), CATALOG)
    in_shape = kwargs.get("in_shape", (5,))
    original = subject.make()
    original.build(in_shape, np.dtype(np.float32), np.random.default_rng(0))
    rng = np.random.default_rng(1)
    batches = {rows: rng.uniform(-1, 1, (rows, *in_shape)).astype(np.float32) for rows in (3, 1, 2)}
    for rows in (3, 1):  # the batch sizes seen before the copy
        original.forward(batches[rows], False)
    twin = copy.deepcopy(original)
    for rows, x in batches.items():
        expected = original.forward(x, False).copy()
        np.testing.assert_array_equal(twin.forward(x, False), expected, err_msg=f"{rows} rows")
    if original.params() and hasattr(original, "backward_descent"):
        before = [p.value.copy() for p in original.params()]
        twin.forward(batches[3], True)
        twin.backward_descent(np.ones_like(expected, shape=(3, *expected.shape[1:])), [0.1] * len(before))
        assert all(np.array_equal(p.value, b) for p, b in zip(original.params(), before))
        assert not all(np.array_equal(p.value, b) for p, b in zip(twin.params(), before))


@pytest.mark.parametrize("rows", [1, 3, 200])  # ReLU's float mask (up to 2048 values) and its boolean one
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_backward_passes_dy_where_the_output_is_positive(rows, dtype):
    """Exactly ``dy`` where ``y > 0`` and zero elsewhere, including at exact zeros of the input."""
    layer = _layer("relu", 40, dtype=dtype)
    rng = np.random.default_rng(8)
    x = _inputs(rng, rows, 40).astype(dtype)
    x[:, ::7] = 0.0
    y = layer.forward(x, True)
    dy = rng.normal(size=x.shape).astype(dtype)
    dx = layer.backward(dy)
    assert dx.dtype == dtype
    np.testing.assert_array_equal(dx, np.where(y > 0, dy, 0))


@pytest.mark.parametrize("name", ["softmax_cross_entropy", "cross_entropy"])
def test_loss_scale_multiplies_loss_and_gradient(name):
    rng = np.random.default_rng(7)
    p = rng.uniform(0.2, 1.0, size=(4, 4))
    output, labels = p / p.sum(axis=1, keepdims=True), rng.integers(0, 4, 4)
    one, two = CATALOG.get("loss", name).factory(scale=1.0), CATALOG.get("loss", name).factory(scale=2.0)
    np.testing.assert_allclose(two.forward(output, labels), 2 * one.forward(output, labels), rtol=1e-12)
    np.testing.assert_allclose(two.backward(), 2 * one.backward(), rtol=1e-12)


def test_builtin_loss_values():
    """Loss values against direct formulas (the gradient check alone accepts a consistently wrong loss)."""
    rng = np.random.default_rng(9)
    logits, labels = rng.normal(size=(4, 4)), rng.integers(0, 4, 4)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = -np.log(p[np.arange(4), labels]).mean()
    assert CATALOG.get("loss", "softmax_cross_entropy").factory().forward(logits, labels) == pytest.approx(expected)
    assert CATALOG.get("loss", "cross_entropy").factory().forward(p, labels) == pytest.approx(expected)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_softmax_cross_entropy_on_one_sample_rounds_as_its_row_in_a_batch(smoothing):
    """Online SGD's one-sample path takes fewer NumPy calls, with the same float32 bits as the batch's rows."""
    rng = np.random.default_rng(11)
    logits = (rng.normal(0, 4, size=(8, 10))).astype(np.float32)
    labels = rng.integers(0, 10, 8).astype(np.uint8)
    make = CATALOG.get("loss", "softmax_cross_entropy").factory
    batch = make(label_smoothing=smoothing)
    batch.forward(logits, labels)
    rows = batch.backward() * np.float32(8)  # the batch's 1/8, undone exactly: a power of two
    for i in range(8):
        one = make(label_smoothing=smoothing)
        value = one.forward(logits[i : i + 1], labels[i : i + 1])
        np.testing.assert_array_equal(one.backward(), rows[i : i + 1])
        p = np.exp(logits[i].astype(np.float64) - logits[i].max())
        p /= p.sum()
        target = (1 - smoothing) * np.eye(10)[labels[i]] + smoothing / 10
        assert value == pytest.approx(-(target * np.log(p)).sum(), rel=1e-5)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_softmax_cross_entropy_on_one_sample_is_not_finite_where_its_row_in_a_batch_is_not(bad):
    """The one-sample path's maximum (read at the argmax) propagates NaN and infinities as the batch's reduction."""
    logits = np.array([[0.5, bad, -1.0, 2.0], [1.0, 0.0, 0.0, 0.0]], np.float32)
    make = CATALOG.get("loss", "softmax_cross_entropy").factory
    with np.errstate(invalid="ignore"):  # inf - inf, as training meets it
        in_batch = make().forward(logits, np.array([0, 1]))
        alone = make().forward(logits[:1], np.array([0]))
    assert np.isfinite(alone) == np.isfinite(in_batch) and (bad == -np.inf) == np.isfinite(alone)
