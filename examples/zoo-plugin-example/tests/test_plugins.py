"""The example's plugins keep zoo's contracts (the conformance kit on every name it registers) and do what they say.

Run after installing the package: ``pip install -e . && pytest``.
"""

import math

import numpy as np
import pytest

import zoo.testing
from zoo.errors import ConfigError
from zoo.layers import Param
from zoo.plugins import default_catalog

PACKAGE = "zoo-plugin-example"
ENTRY = "example-784-256-10-leaky-rmsprop"


def orthogonal_std(gain=1.0):
    """The scale ``orthogonal`` claims for a ``(fan_in, fan_out)`` weight."""
    return lambda fan_in, fan_out: gain / math.sqrt(max(fan_in, fan_out))


def test_every_name_the_package_registers_keeps_its_contract():
    checked = zoo.testing.check_package(
        PACKAGE,
        options={
            "rmsprop": {"lr": 0.01},  # the kit's 500-step quadratic needs more than the default 0.001
            "orthogonal": {"options": {}, "std": orthogonal_std(), "mean": 0.0},
        },
    )
    assert sorted(checked) == [
        ("augmenter", "random_erasing"),
        ("initialiser", "orthogonal"),
        ("layer", "leaky_relu"),
        ("model", ENTRY),
        ("optimizer", "rmsprop"),
    ]


@pytest.mark.parametrize("slope", [0.0, 0.2])
def test_leaky_relu_with_other_slopes(slope):
    zoo.testing.check_layer("leaky_relu", {"slope": slope})


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
    layer.build(3, np.dtype(np.float32), np.random.default_rng(0))
    y = layer.forward(np.array([[-2.0, 0.0, 3.0]], np.float32), training=True)
    assert y.dtype == np.float32 and np.allclose(y, [[-0.2, 0.0, 3.0]])
    assert np.allclose(layer.backward(np.ones((1, 3), np.float32)), [[0.1, 0.1, 1.0]])


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
    with pytest.raises(ConfigError, match="min_area <= max_area"):
        make("augmenter", "random_erasing", {"min_area": 0.5, "max_area": 0.1})
