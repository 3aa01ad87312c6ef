"""The example's plugins keep zoo's contracts (the conformance kit on every name it registers) and do what they say.

Run after installing the package: ``pip install -e . && pytest``.
"""

import math

import numpy as np
import pytest

import zoo.testing
from zoo.errors import ConfigError
from zoo.layers import Param
from zoo.loading import default_catalog

PACKAGE = "zoo-plugin-example"
ENTRY = "example-784-256-10-leaky-rmsprop"
CNN_ENTRY = "example-cnn-8-16-10-channel-dropout"
IMAGE = (3, 4, 5)
"""A small per-sample image shape (channels, height, width) for the kit's checks."""


def orthogonal_std(gain=1.0):
    """The scale ``orthogonal`` claims for a ``(fan_in, fan_out)`` weight."""
    return lambda fan_in, fan_out: gain / math.sqrt(max(fan_in, fan_out))


def test_every_name_the_package_registers_keeps_its_contract():
    checked = zoo.testing.check_package(
        PACKAGE,
        options={
            "rmsprop": {"lr": 0.01},  # the kit's 500-step quadratic needs more than the default 0.001
            "orthogonal": {"options": {}, "std": orthogonal_std(), "mean": 0.0},
            "channel_dropout": {"options": {"rate": 0.5}, "in_shape": IMAGE},  # it refuses flat input
        },
    )
    assert sorted(checked) == [
        ("augmenter", "random_erasing"),
        ("initialiser", "orthogonal"),
        ("layer", "channel_dropout"),
        ("layer", "leaky_relu"),
        ("model", ENTRY),
        ("model", CNN_ENTRY),
        ("optimizer", "rmsprop"),
    ]


@pytest.mark.parametrize("slope", [0.0, 0.2])
@pytest.mark.parametrize("in_shape", [(7,), IMAGE])
def test_leaky_relu_with_other_slopes_on_flat_and_image_input(slope, in_shape):
    zoo.testing.check_layer("leaky_relu", {"slope": slope}, in_shape=in_shape)


@pytest.mark.parametrize("rate", [0.0, 0.2, 0.9])
@pytest.mark.parametrize("in_shape", [(2, 6), IMAGE])
def test_channel_dropout_with_other_rates_and_shapes(rate, in_shape):
    zoo.testing.check_layer("channel_dropout", {"rate": rate}, in_shape=in_shape)


@pytest.mark.parametrize("options", [{"lr": 0.02, "rho": 0.5}, {"lr": 0.01, "eps": 0.1}])
def test_rmsprop_with_other_options(options):
    zoo.testing.check_optimizer("rmsprop", options)


def test_orthogonal_with_a_gain():
    zoo.testing.check_initialiser("orthogonal", {"gain": 1.5}, std=orthogonal_std(1.5), mean=0.0)


def test_random_erasing_on_every_image():
    # Larger rectangles on every image erase too much of a digit for the kit's label check to pass.
    zoo.testing.check_augmenter("random_erasing", {"probability": 1.0, "max_area": 0.1})


def make(kind, name, options):
    return default_catalog().create(kind, name, options, "test")


def test_leaky_relu_values_and_gradient():
    layer = make("layer", "leaky_relu", {"slope": 0.1})
    assert layer.build((1, 1, 3), np.dtype(np.float32), np.random.default_rng(0)) == (1, 1, 3)
    y = layer.forward(np.array([[[[-2.0, 0.0, 3.0]]]], np.float32), training=True)
    assert y.dtype == np.float32 and np.allclose(y, [[[[-0.2, 0.0, 3.0]]]])
    assert np.allclose(layer.backward(np.ones((1, 1, 1, 3), np.float32)), [[[[0.1, 0.1, 1.0]]]])


def built_channel_dropout(rate, in_shape, seed=0):
    layer = make("layer", "channel_dropout", {"rate": rate})
    assert layer.build(in_shape, np.dtype(np.float32), np.random.default_rng(seed)) == in_shape
    return layer


def test_channel_dropout_drops_whole_channels_at_its_rate_and_scales_the_rest():
    layer = built_channel_dropout(0.25, (8, 5, 6))
    x = np.random.default_rng(1).uniform(0.5, 1.0, (500, 8, 5, 6)).astype(np.float32)
    y = layer.forward(x, training=True).copy()
    dropped = y[:, :, :1, :1] == 0  # (N, C, 1, 1)
    assert np.array_equal(y == 0, np.broadcast_to(dropped, y.shape))  # one draw per sample and channel
    assert abs(np.mean(dropped) - 0.25) < 0.02  # of 4000 draws
    assert np.array_equal(y[y != 0], x[y != 0] * np.float32(1 / 0.75))
    dx = layer.backward(np.ones_like(x))  # the mask itself
    assert np.array_equal(dx == 0, y == 0) and np.all(dx[dx != 0] == np.float32(1 / 0.75))


def test_channel_dropout_is_the_identity_at_evaluation():
    layer = built_channel_dropout(0.5, (2, 3, 3))
    x = np.random.default_rng(2).standard_normal((4, 2, 3, 3)).astype(np.float32)
    assert np.array_equal(layer.forward(x, training=False), x)
    dy = np.ones_like(x)
    assert np.array_equal(layer.backward(dy), dy)


def test_channel_dropout_refuses_flat_input():
    layer = make("layer", "channel_dropout", {"rate": 0.5})
    with pytest.raises(ValueError, match=r"needs samples with channels and positions.*got \(256,\); on flat input"):
        layer.build((256,), np.dtype(np.float32), np.random.default_rng(0))


def test_rmsprop_follows_its_formula():
    value, grads = np.array([1.0, -2.0]), [np.array([0.5, 1.0]), np.array([-1.0, 2.0])]
    param = Param("w", value.copy(), np.zeros(2))
    optimizer = make("optimizer", "rmsprop", {"lr": 0.1, "rho": 0.9, "eps": 1e-8, "weight_decay": 0.01})
    optimizer.setup([param])
    expected, square_avg = value.copy(), np.zeros(2)
    for g in grads:
        param.grad[...] = g
        optimizer.step([param])
        g = g + 0.01 * expected
        square_avg = 0.9 * square_avg + 0.1 * g**2
        expected -= 0.1 * g / (np.sqrt(square_avg) + 1e-8)
    assert np.allclose(param.value, expected, rtol=1e-12)
    assert np.allclose(optimizer.state()["square_avg.0"], square_avg, rtol=1e-12)


def test_rmsprop_refuses_a_state_that_does_not_fit():
    optimizer = make("optimizer", "rmsprop", {})
    optimizer.setup([Param("w", np.zeros(3), np.zeros(3))])
    with pytest.raises(ValueError, match="expected"):
        optimizer.load_state({"square_avg.0": np.zeros(4)})


@pytest.mark.parametrize("shape", [(30, 8), (8, 30), (4, 3, 5)])
def test_orthogonal_vectors_are_orthonormal_times_gain(shape):
    weights = make("initialiser", "orthogonal", {"gain": 2.0})(
        shape, shape[0], shape[-1], np.random.default_rng(0), np.float64
    )
    matrix = weights.reshape(shape[0], -1)
    small = matrix.T @ matrix if matrix.shape[0] >= matrix.shape[1] else matrix @ matrix.T
    assert np.allclose(small, 4.0 * np.eye(len(small)))


def test_random_erasing_fills_one_rectangle_per_image_within_the_area_bounds():
    erase = make("augmenter", "random_erasing", {"probability": 1.0, "min_area": 0.05, "max_area": 0.2})
    out = erase(np.ones((200, 28, 28)), np.random.default_rng(0))
    for image in out:
        rows, cols = np.nonzero(image == 0)
        height, width = np.ptp(rows) + 1, np.ptp(cols) + 1
        assert len(rows) == height * width  # the erased pixels are exactly their bounding box
        slack = (height + width) / 2 + 1  # each side is rounded to whole pixels
        assert 0.05 * 784 - slack <= len(rows) <= 0.2 * 784 + slack
    assert len({np.count_nonzero(image == 0) for image in out}) > 10  # sizes vary


def test_random_erasing_with_probability_zero_changes_nothing():
    images = np.random.default_rng(1).random((16, 28, 28))
    assert np.array_equal(
        make("augmenter", "random_erasing", {"probability": 0.0})(images, np.random.default_rng(0)), images
    )


def test_bad_options_fail_when_an_entry_loads():
    with pytest.raises(ConfigError, match="'slope' must be a finite number >= 0 and < 1, got 1.5"):
        make("layer", "leaky_relu", {"slope": 1.5})
    with pytest.raises(ConfigError, match="'rate' must be a finite number >= 0 and < 1, got 1"):
        make("layer", "channel_dropout", {"rate": 1})
    with pytest.raises(ConfigError, match="min_area <= max_area"):
        make("augmenter", "random_erasing", {"min_area": 0.5, "max_area": 0.1})
