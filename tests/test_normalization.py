"""batchnorm: batch statistics in training, running ones at evaluation, gradients through both, and its state."""

import numpy as np
import pytest

from zoo.config import ModelEntry
from zoo.errors import ConfigError
from zoo.loading import default_catalog
from zoo.modelfile import load, save
from zoo.testing.gradients import gradient_error, numeric_gradient
from zoo.training import train

CATALOG = default_catalog()
SHAPES = [(5,), (3, 4, 4), (2, 3, 5)]  # after dense, after conv, any (C, ...)


def batchnorm(in_shape, dtype=np.float64, **options):
    layer = CATALOG.get("layer", "batchnorm").factory(**options)
    assert layer.build(in_shape, np.dtype(dtype), np.random.default_rng(0)) == in_shape
    return layer


def channel_axes(x):
    return (0, *range(2, x.ndim))


def randomise(layer, rng):
    """Parameters and running statistics away from their initial 1, 0, 0, 1, so that every term of a gradient shows."""
    gamma, beta = layer.params()
    gamma.value[...] = rng.uniform(0.5, 1.5, gamma.value.shape)
    beta.value[...] = rng.standard_normal(beta.value.shape)
    C = gamma.value.shape
    layer.load_state({"running_mean": rng.standard_normal(C), "running_var": rng.uniform(0.5, 2.0, C)})


@pytest.mark.parametrize("in_shape", SHAPES)
def test_training_normalises_each_channel_with_the_batch_statistics(in_shape):
    layer = batchnorm(in_shape)
    x = np.random.default_rng(1).standard_normal((6, *in_shape)) * 3 + 2
    y = layer.forward(x, training=True)
    axes = channel_axes(x)
    np.testing.assert_allclose(y.mean(axis=axes), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=axes), 1 / (1 + 1e-5 / x.var(axis=axes)), rtol=1e-10)


@pytest.mark.parametrize("in_shape", SHAPES)
def test_running_statistics_follow_the_documented_convention(in_shape):
    """running = momentum·running + (1 - momentum)·batch, the variance unbiased (as PyTorch's with momentum 0.2)."""
    layer = batchnorm(in_shape, momentum=0.8)
    rng = np.random.default_rng(2)
    batches = [rng.standard_normal((4, *in_shape)) * 2 + 1 for _ in range(3)]
    mean, var = np.zeros(in_shape[0]), np.ones(in_shape[0])
    for x in batches:
        layer.forward(x, training=True)
        axes = channel_axes(x)
        mean = 0.8 * mean + 0.2 * x.mean(axis=axes)
        var = 0.8 * var + 0.2 * x.var(axis=axes, ddof=1)
    state = layer.state()
    assert sorted(state) == ["running_mean", "running_var"]
    np.testing.assert_allclose(state["running_mean"], mean, rtol=1e-12)
    np.testing.assert_allclose(state["running_var"], var, rtol=1e-12)


@pytest.mark.parametrize("in_shape", SHAPES)
def test_evaluation_uses_the_running_statistics_and_changes_no_state(in_shape):
    layer = batchnorm(in_shape, eps=1e-3)
    rng = np.random.default_rng(3)
    randomise(layer, rng)
    before = {k: v.copy() for k, v in layer.state().items()}
    x = rng.standard_normal((4, *in_shape))
    gamma, beta = (p.value.reshape(-1, *[1] * (len(in_shape) - 1)) for p in layer.params())
    mean, var = (before[k].reshape(gamma.shape) for k in ("running_mean", "running_var"))
    np.testing.assert_allclose(layer.forward(x, False), gamma * (x - mean) / np.sqrt(var + 1e-3) + beta, rtol=1e-12)
    one = layer.forward(x[:1], False).copy()
    np.testing.assert_allclose(layer.forward(x, False)[:1], one, rtol=1e-12)  # a sample alone or in a batch
    for key, value in layer.state().items():
        np.testing.assert_array_equal(value, before[key])


@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
@pytest.mark.parametrize("in_shape", SHAPES)
def test_gradients_match_central_differences(in_shape, training):
    """In training the gradient goes through the batch mean and variance; the running statistics stay put."""
    layer = batchnorm(in_shape)
    rng = np.random.default_rng(4)
    randomise(layer, rng)
    layer.forward(rng.standard_normal((7, *in_shape)), training)  # a larger batch first: buffers become views
    layer.backward(rng.standard_normal((7, *in_shape)))
    state = {k: v.copy() for k, v in layer.state().items()}
    x, dy = rng.standard_normal((4, *in_shape)) * 2 + 1, rng.standard_normal((4, *in_shape))
    layer.forward(x, training)
    dx = layer.backward(dy).copy()
    grads = [p.grad.copy() for p in layer.params()]

    def objective():
        value = float(np.sum(layer.forward(x, training) * dy))
        layer.load_state(state)
        return value

    assert gradient_error(dx, numeric_gradient(objective, x)) is None
    for p, grad in zip(layer.params(), grads):
        assert gradient_error(grad, numeric_gradient(objective, p.value)) is None, p.name


def test_non_contiguous_input_and_float32():
    """After a conv2d (a strided view) and in float32: float32 out, the same values as from a contiguous copy."""
    layer = batchnorm((2, 3, 3), np.float32)
    x = np.random.default_rng(5).standard_normal((4, 2, 3, 5)).astype(np.float32)[..., :3]
    y = layer.forward(x, True).copy()
    dx = layer.backward(np.ones_like(x))
    assert y.dtype == dx.dtype == layer.state()["running_var"].dtype == np.float32
    np.testing.assert_array_equal(y, batchnorm((2, 3, 3), np.float32).forward(np.ascontiguousarray(x), True))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"momentum": 1.5}, "'momentum' must be a finite number >= 0 and <= 1, got 1.5"),
        ({"eps": 0}, "'eps' must be a finite number > 0, got 0"),
    ],
)
def test_bad_options_are_config_errors(options, message):
    with pytest.raises(ConfigError) as error:
        CATALOG.create("layer", "batchnorm", options, "layers.1")
    assert str(error.value) == f"layers.1: {message}"


def test_running_statistics_travel_in_the_network_state_and_model_files(small_mnist, tmp_path):
    """Batch norm after conv and after dense: the network state names the statistics, a model file keeps them."""
    table = {
        "layers": [
            {"type": "conv2d", "filters": 4, "kernel": 3, "padding": "same"},
            {"type": "batchnorm"},
            {"type": "relu"},
            {"type": "maxpool2d", "size": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 16},
            {"type": "batchnorm"},
            {"type": "relu"},
            {"type": "dense", "units": 10},
        ],
        "loss": {"type": "softmax_cross_entropy"},
        "optimizer": {"type": "sgd", "lr": 0.1},
        "batches": {"type": "shuffled", "size": 64},
        "train": {"steps": 20, "log_every": 20},
    }
    entry = ModelEntry.from_table("bn-cnn", table, "registry/bn-cnn.toml", CATALOG)
    network, result = train(entry, small_mnist, CATALOG, test=False)
    state = network.state()
    for i, channels in ((1, 4), (6, 16)):
        assert state[f"layers.{i}.running_mean"].shape == (channels,)
        assert np.any(state[f"layers.{i}.running_var"] != 1)
    path = tmp_path / "bn-cnn.npz"
    save(path, network, entry, meta={})
    loaded, _, _ = load(path, CATALOG)
    assert loaded.state().keys() == state.keys()
    for name, value in state.items():
        np.testing.assert_array_equal(loaded.state()[name], value, err_msg=name)
    images = small_mnist.val_images[:100].reshape(100, 1, 28, 28).astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(loaded.forward(images, False), network.forward(images, False))
