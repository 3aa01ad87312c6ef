"""maxpool2d, avgpool2d and global_avgpool: values against a naive loop, gradients, ties, edges and errors."""

import numpy as np
import pytest

from zoo.errors import ConfigError
from zoo.loading import default_catalog
from zoo.testing.gradients import gradient_error, numeric_gradient

CATALOG = default_catalog()

# (in_shape, options): tiling windows, inputs not divisible by the size, gaps, overlaps
GEOMETRIES = [
    ((2, 4, 4), {"size": 2}),
    ((1, 5, 7), {"size": 2}),  # a row and a column left over
    ((2, 7, 6), {"size": 3, "stride": 2}),  # overlapping
    ((1, 7, 7), {"size": 2, "stride": 3}),  # gaps between windows
    ((2, 5, 5), {"size": 3, "stride": 1}),
    ((1, 3, 4), {"size": 3}),  # one window
]
REDUCERS = {"maxpool2d": np.max, "avgpool2d": np.mean}


def pool_layer(name, in_shape, options, dtype=np.float64):
    layer = CATALOG.get("layer", name).factory(**options)
    return layer, layer.build(in_shape, np.dtype(dtype), np.random.default_rng(0))


def naive_pool(x, size, stride, reduce):
    """The definition: ``reduce`` over each window that fits whole, ``floor((H - size) / stride) + 1`` per axis."""
    N, C, H, W = x.shape
    Ho, Wo = (H - size) // stride + 1, (W - size) // stride + 1
    y = np.zeros((N, C, Ho, Wo))
    for h in range(Ho):
        for w in range(Wo):
            y[:, :, h, w] = reduce(x[:, :, h * stride : h * stride + size, w * stride : w * stride + size], axis=(2, 3))
    return y


def distinct(rng, shape):
    """Values with no ties, at least 0.05 apart: a central difference never changes which is the maximum."""
    return (rng.permutation(np.prod(shape)).reshape(shape) - np.prod(shape) / 2) * 0.05


@pytest.mark.parametrize("name", sorted(REDUCERS))
@pytest.mark.parametrize("in_shape, options", GEOMETRIES)
def test_forward_is_the_definition_and_gradients_match(name, in_shape, options):
    layer, shape = pool_layer(name, in_shape, options)
    rng = np.random.default_rng(1)
    layer.forward(distinct(rng, (5, *in_shape)), True)  # a larger batch first: buffers become views
    layer.backward(rng.standard_normal((5, *shape)))
    x, dy = distinct(rng, (3, *in_shape)), rng.standard_normal((3, *shape))
    y = layer.forward(x, True)
    expected = naive_pool(x, options["size"], options.get("stride", options["size"]), REDUCERS[name])
    assert y.shape == expected.shape == (3, *shape)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-15)
    dx = layer.backward(dy).copy()
    assert gradient_error(dx, numeric_gradient(lambda: float(np.sum(layer.forward(x, True) * dy)), x)) is None
    assert layer.backward(dy, need_dx=False) is None


def test_a_tie_gives_the_whole_gradient_to_the_first_maximum_in_row_major_order():
    layer, _ = pool_layer("maxpool2d", (1, 4, 4), {"size": 2})
    x = np.array(
        [
            [0.0, 0.0, 1.0, 3.0],  # window 1: all equal -> top left; window 2: 3 at (0, 1) and (1, 0) -> (0, 1)
            [0.0, 0.0, 3.0, 2.0],
            [5.0, 1.0, 2.0, 2.0],  # window 3: one maximum; window 4: 2 everywhere but one 1 -> top left
            [5.0, 5.0, 1.0, 2.0],
        ]
    ).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(layer.forward(x, True), [[[[0.0, 3.0], [5.0, 2.0]]]])
    dx = layer.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    expected = [[1.0, 0.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0], [3.0, 0.0, 4.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    np.testing.assert_array_equal(dx[0, 0], expected)


def test_overlapping_windows_add_their_gradients():
    """An element that is the maximum of two windows gets both windows' dy."""
    layer, _ = pool_layer("maxpool2d", (1, 3, 3), {"size": 2, "stride": 1})
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1.0
    layer.forward(x, True)
    dx = layer.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    assert dx[0, 0, 1, 1] == 10.0 and dx.sum() == 10.0


def test_global_avgpool_is_the_channel_mean():
    layer, shape = pool_layer("global_avgpool", (3, 4, 5), {})
    assert shape == (3,)
    rng = np.random.default_rng(2)
    x, dy = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3))
    np.testing.assert_allclose(layer.forward(x, True), x.mean(axis=(2, 3)), rtol=1e-12)
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, np.broadcast_to(dy[:, :, None, None] / 20, x.shape), rtol=1e-12)


@pytest.mark.parametrize("name", ["maxpool2d", "avgpool2d", "global_avgpool"])
def test_float32_stays_float32(name):
    options = {} if name == "global_avgpool" else {"size": 2}
    layer, shape = pool_layer(name, (2, 6, 6), options, np.float32)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 2, 6, 6)).astype(np.float32)
    y = layer.forward(x, True)
    dx = layer.backward(rng.standard_normal((3, *shape)).astype(np.float32))
    assert y.dtype == dx.dtype == np.float32


@pytest.mark.parametrize("name", ["maxpool2d", "avgpool2d"])
def test_non_contiguous_input_is_pooled_as_it_reads(name):
    """A conv2d's output is a strided view; pooling reads it as it is, without copying first."""
    layer, _ = pool_layer(name, (2, 6, 6), {"size": 2})
    x = distinct(np.random.default_rng(4), (3, 2, 6, 8))[..., :6]
    np.testing.assert_allclose(layer.forward(x, True), naive_pool(x, 2, 2, REDUCERS[name]), rtol=1e-12)


@pytest.mark.parametrize(
    "name, in_shape, options, message",
    [
        ("maxpool2d", (120,), {"size": 2}, "maxpool2d needs (C, H, W) input, got (120,)"),
        ("avgpool2d", (3, 4), {"size": 2}, "avgpool2d needs (C, H, W) input, got (3, 4)"),
        ("global_avgpool", (120,), {}, "global_avgpool needs (C, H, W) input, got (120,)"),
        ("maxpool2d", (1, 5, 2), {"size": 3}, "maxpool2d: the 3x3 window is larger than the input 5x2"),
    ],
)
def test_shapes_that_do_not_fit_are_value_errors(name, in_shape, options, message):
    layer = CATALOG.get("layer", name).factory(**options)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        layer.build(in_shape, np.dtype(np.float32), np.random.default_rng(0))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"size": 0}, "'size' must be an integer > 0, got 0"),
        ({"size": 2.0}, "'size' must be an integer > 0, got 2.0"),
        ({"size": 2, "stride": 0}, "'stride' must be an integer > 0, got 0"),
    ],
)
def test_bad_options_are_config_errors(options, message):
    with pytest.raises(ConfigError) as error:
        CATALOG.create("layer", "maxpool2d", options, "layers.2")
    assert str(error.value) == f"layers.2: {message}"


def test_multiply_adds():
    """Max-pooling only compares; average pooling adds each window's values; the global mean adds them all."""
    assert pool_layer("maxpool2d", (3, 6, 6), {"size": 2})[0].multiply_adds() == 0
    assert pool_layer("avgpool2d", (3, 6, 6), {"size": 2})[0].multiply_adds() == 3 * 3 * 3 * 4
    assert pool_layer("global_avgpool", (3, 6, 6), {})[0].multiply_adds() == 3 * 36
