"""conv2d: values against a naive loop, gradients, dtypes, buffers, option and shape errors, and LeNet-5 training.

The conformance kit checks conv2d on a few small shapes (tests/test_gradients.py); these
tests go over more geometries (strides, paddings, rectangular kernels and inputs) and pin
down what the kit cannot know: the output equals the definition, and "same" means what
the docstring says.
"""

import tracemalloc

import numpy as np
import pytest

from zoo.config import ModelEntry
from zoo.entries import load_entry
from zoo.errors import ConfigError
from zoo.loading import default_catalog
from zoo.network import build_network
from zoo.testing.gradients import gradient_error, numeric_gradient
from zoo.training import train

CATALOG = default_catalog()

# (in_shape, options, output H', W'): strides, paddings, rectangular kernels and inputs
GEOMETRIES = [
    ((1, 6, 6), {"filters": 2, "kernel": 3}, (4, 4)),
    ((2, 5, 7), {"filters": 3, "kernel": [2, 3]}, (4, 5)),
    ((2, 7, 7), {"filters": 2, "kernel": 3, "padding": "same"}, (7, 7)),
    ((1, 6, 5), {"filters": 2, "kernel": 4, "padding": "same"}, (6, 5)),  # even kernel: the odd zero after
    ((2, 7, 7), {"filters": 2, "kernel": 3, "stride": 2}, (3, 3)),
    ((2, 8, 7), {"filters": 2, "kernel": 3, "stride": 2, "padding": "same"}, (4, 4)),
    ((1, 7, 6), {"filters": 2, "kernel": [3, 2], "stride": 3, "padding": 1}, (3, 3)),
    ((3, 4, 4), {"filters": 2, "kernel": 4, "bias": False}, (1, 1)),
]
LENET_CONV2 = {"filters": 16, "kernel": 5}
"""LeNet-5's second convolution: several chunks to a batch of 128."""


def conv_layer(in_shape, options, dtype=np.float64, seed=0):
    layer = CATALOG.get("layer", "conv2d").factory(**options)
    out = layer.build(in_shape, np.dtype(dtype), np.random.default_rng(seed))
    return layer, out


def naive_conv(x, W, b, stride, pads):
    """The definition: ``y[n, f, h, w] = b[f] + sum over c, i, j of W[f, c, i, j] · xpad[n, c, h·s + i, w·s + j]``."""
    (top, bottom), (left, right) = pads
    N, C, H, Wd = x.shape
    F, _, kh, kw = W.shape
    xp = np.zeros((N, C, H + top + bottom, Wd + left + right))
    xp[:, :, top : top + H, left : left + Wd] = x
    Ho, Wo = (xp.shape[2] - kh) // stride + 1, (xp.shape[3] - kw) // stride + 1
    y = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for h in range(Ho):
                for w in range(Wo):
                    window = xp[n, :, h * stride : h * stride + kh, w * stride : w * stride + kw]
                    y[n, f, h, w] = np.sum(window * W[f]) + (b[f] if b is not None else 0.0)
    return y


def pads_of(in_shape, options):
    """Zeros before and after each spatial axis, as the docstring defines them."""
    kh, kw = (options["kernel"],) * 2 if isinstance(options["kernel"], int) else options["kernel"]
    stride, padding = options.get("stride", 1), options.get("padding", "valid")
    pads = []
    for size, k in zip(in_shape[1:], (kh, kw)):
        if padding == "same":
            total = max((-(-size // stride) - 1) * stride + k - size, 0)
            pads.append((total // 2, total - total // 2))
        else:
            p = 0 if padding == "valid" else padding
            pads.append((p, p))
    return pads


def random_bias(layer, rng):
    params = layer.params()
    if len(params) == 2:
        params[1].value[...] = rng.standard_normal(params[1].value.shape)
    return params[1].value if len(params) == 2 else None


@pytest.mark.parametrize("in_shape, options, out", GEOMETRIES)
def test_forward_is_the_definition(in_shape, options, out):
    layer, shape = conv_layer(in_shape, options)
    assert shape == (options["filters"], *out)
    rng = np.random.default_rng(1)
    b = random_bias(layer, rng)
    x = rng.standard_normal((3, *in_shape))
    y = layer.forward(x, training=True)
    assert y.shape == (3, *shape)
    expected = naive_conv(x, layer.params()[0].value, b, options.get("stride", 1), pads_of(in_shape, options))
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("in_shape, options, out", GEOMETRIES)
def test_gradients_match_central_differences(in_shape, options, out):
    """After a larger batch (buffers become views), for dx, W and b; need_dx=False fills the same gradients."""
    layer, shape = conv_layer(in_shape, options)
    rng = np.random.default_rng(2)
    random_bias(layer, rng)
    layer.forward(rng.standard_normal((5, *in_shape)), True)
    layer.backward(rng.standard_normal((5, *shape)))
    x, dy = rng.standard_normal((2, *in_shape)), rng.standard_normal((2, *shape))
    layer.forward(x, True)
    dx = layer.backward(dy).copy()
    grads = [p.grad.copy() for p in layer.params()]

    def objective():
        return float(np.sum(layer.forward(x, True) * dy))

    assert gradient_error(dx, numeric_gradient(objective, x)) is None
    for p, grad in zip(layer.params(), grads):
        assert gradient_error(grad, numeric_gradient(objective, p.value)) is None, p.name
    layer.forward(x, True)
    assert layer.backward(dy, need_dx=False) is None
    for p, grad in zip(layer.params(), grads):
        np.testing.assert_array_equal(p.grad, grad)


def test_a_batch_larger_than_one_chunk_is_the_definition():
    """Batches are processed a chunk of samples at a time; the chunks' seams must not show."""
    in_shape, options = (2, 9, 9), {"filters": 3, "kernel": 3, "padding": 1}
    layer, _ = conv_layer(in_shape, options)
    rng = np.random.default_rng(3)
    b = random_bias(layer, rng)
    n = 2 * layer._chunk + 1
    x = rng.standard_normal((n, *in_shape))
    expected = naive_conv(x, layer.params()[0].value, b, 1, pads_of(in_shape, options))
    np.testing.assert_allclose(layer.forward(x, True), expected, rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(expected.shape)
    dx = layer.backward(dy).copy()
    # Each sample's dx depends on its own dy only: compare with samples one at a time.
    for i in (0, layer._chunk, n - 1):
        layer.forward(x[i : i + 1], True)
        np.testing.assert_allclose(layer.backward(dy[i : i + 1])[0], dx[i], rtol=1e-12, atol=1e-12)


def test_float32_stays_float32_and_agrees_with_float64():
    in_shape, options = (2, 8, 8), {"filters": 3, "kernel": 3, "padding": "same"}
    layer64, shape = conv_layer(in_shape, options, np.float64)
    layer32, _ = conv_layer(in_shape, options, np.float32)
    for p32, p64 in zip(layer32.params(), layer64.params()):
        assert p32.value.dtype == p32.grad.dtype == np.float32
        p64.value[...] = p32.value
    rng = np.random.default_rng(4)
    x, dy = rng.standard_normal((3, *in_shape)), rng.standard_normal((3, *shape))
    y32 = layer32.forward(x.astype(np.float32), True)
    dx32 = layer32.backward(dy.astype(np.float32))
    assert y32.dtype == dx32.dtype == np.float32
    np.testing.assert_allclose(y32, layer64.forward(x, True), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dx32, layer64.backward(dy), rtol=1e-4, atol=1e-5)
    for p32, p64 in zip(layer32.params(), layer64.params()):
        np.testing.assert_allclose(p32.grad, p64.grad, rtol=1e-4, atol=1e-4)


def test_forward_leaves_its_input_alone_and_a_seed_fixes_everything():
    in_shape, options = (1, 6, 6), {"filters": 2, "kernel": 3, "padding": 1}
    x = np.random.default_rng(5).standard_normal((2, *in_shape))
    before = x.copy()
    outputs = []
    for _ in range(2):
        layer, _ = conv_layer(in_shape, options, seed=7)
        outputs.append(layer.forward(x, True).copy())
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_weight_init_gets_the_receptive_field_as_fans():
    seen = []

    def record(shape, fan_in, fan_out, rng, dtype):
        seen.append((shape, fan_in, fan_out))
        return np.zeros(shape, dtype)

    layer = CATALOG.get("layer", "conv2d").factory(filters=4, kernel=[3, 5], weight_init=record, bias_init=record)
    layer.build((2, 8, 8), np.dtype(np.float32), np.random.default_rng(0))
    assert seen == [((4, 2, 3, 5), 30, 60), ((4,), 30, 60)]
    he = CATALOG.get("layer", "conv2d").factory(filters=64, kernel=5)
    he.build((8, 12, 12), np.dtype(np.float64), np.random.default_rng(0))
    W, b = (p.value for p in he.params())
    assert W.std() == pytest.approx(np.sqrt(2 / (8 * 25)), rel=0.05) and not b.any()


def test_no_bias_means_no_b():
    layer, _ = conv_layer((1, 5, 5), {"filters": 2, "kernel": 3, "bias": False})
    assert [p.name for p in layer.params()] == ["W"]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"filters": 0, "kernel": 3}, "'filters' must be an integer > 0, got 0"),
        ({"filters": 2, "kernel": 0}, "'kernel' must be a positive integer or [height, width], got 0"),
        ({"filters": 2, "kernel": [3]}, "'kernel' must be a positive integer or [height, width], got (3,)"),
        ({"filters": 2, "kernel": True}, "'kernel' must be a positive integer or [height, width], got True"),
        ({"filters": 2, "kernel": 3, "stride": 0}, "'stride' must be an integer > 0, got 0"),
        ({"filters": 2, "kernel": 3, "padding": "full"}, '\'padding\' must be "valid", "same" or an integer >= 0'),
        ({"filters": 2, "kernel": 3, "padding": -1}, '\'padding\' must be "valid", "same" or an integer >= 0'),
        ({"filters": 2, "kernel": 3, "bias": "yes"}, "'bias' must be true or false, got 'yes'"),
    ],
)
def test_bad_options_are_config_errors(options, message):
    with pytest.raises(ConfigError) as error:
        CATALOG.create("layer", "conv2d", options, "layers.0")
    assert str(error.value).startswith(f"layers.0: {message}")


def entry(layers, **train):
    table = {
        "layers": layers,
        "loss": {"type": "softmax_cross_entropy"},
        "optimizer": {"type": "sgd", "lr": 0.05},
        "batches": {"type": "shuffled", "size": 32},
        "train": {"steps": 4, **train},
    }
    return ModelEntry.from_table("cnn", table, "registry/cnn.toml", CATALOG)


@pytest.mark.parametrize(
    "layers, message",
    [
        (
            [{"type": "flatten"}, {"type": "conv2d", "filters": 2, "kernel": 3}],
            "layers.1: cannot build this layer for input (784,): conv2d needs (C, H, W) input, got (784,)",
        ),
        (
            [{"type": "conv2d", "filters": 2, "kernel": 29}],
            "layers.0: cannot build this layer for input (1, 28, 28): "
            "conv2d: the 29x29 kernel is larger than the padded input 28x28",
        ),
        (
            [{"type": "conv2d", "filters": 2, "kernel": [31, 3], "padding": 1}],
            "conv2d: the 31x3 kernel is larger than the padded input 30x30",
        ),
    ],
)
def test_shapes_that_do_not_fit_are_one_line_config_errors(layers, message):
    layers = [*layers, {"type": "flatten"}, {"type": "dense", "units": 10}]
    with pytest.raises(ConfigError) as error:
        build_network(entry(layers), CATALOG, (1, 28, 28), 10, np.random.SeedSequence(0))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_lenet_learns_and_a_seed_makes_it_bit_identical(small_mnist):
    """60 steps of LeNet-5 (float32) beat chance on validation, and two runs from one seed agree bit for bit."""
    lenet = load_entry("lenet-5", CATALOG, ["train.steps=60", "train.log_every=60"])
    runs = [train(lenet, small_mnist, CATALOG, seed=3, test=False) for _ in range(2)]
    (net_a, result_a), (net_b, result_b) = runs
    assert net_a.dtype == np.float32 and result_a.val_accuracy > 0.6
    for name, value in net_a.state().items():
        assert value.dtype == np.float32
        np.testing.assert_array_equal(value, net_b.state()[name], err_msg=name)
    assert [r.loss for r in result_a.history] == [r.loss for r in result_b.history]


def test_steps_allocate_nothing_batch_sized():
    """conv2d's forward and backward reuse their buffers: four times the batch allocates nothing more.

    What a step may allocate at any batch size is bounded: NumPy's iteration buffers for
    strided operands (``np.getbufsize()`` elements each) and small Python objects.
    """
    in_shape, options = (6, 14, 14), {"filters": 16, "kernel": 5, "padding": "same"}
    peaks = []
    for n in (32, 128):  # both several chunks long
        layer, shape = conv_layer(in_shape, options, np.float32)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, *in_shape)).astype(np.float32)
        dy = rng.standard_normal((n, *shape)).astype(np.float32)
        for _ in range(2):
            layer.forward(x, True)
            layer.backward(dy)
        tracemalloc.start()
        layer.forward(x, True)
        layer.backward(dy)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert layer._chunk < 32 and peaks[1] - peaks[0] < 16 * (128 - 32) and peaks[0] < 512 * 1024, peaks


def test_multiply_adds_count_the_real_outputs_only():
    """``zoo show``'s count: filters·C·kh·kw per output value, not the extended grid's extra columns."""
    layer, (F, Ho, Wo) = conv_layer((3, 9, 8), {"filters": 4, "kernel": [3, 2], "stride": 2, "padding": "same"})
    assert layer.multiply_adds() == 4 * 3 * 3 * 2 * Ho * Wo == 4 * 3 * 6 * 5 * 4


@pytest.mark.parametrize("in_shape, options, out", [GEOMETRIES[0], GEOMETRIES[5], ((6, 14, 14), LENET_CONV2, None)])
def test_any_number_of_workers_gives_the_same_bits(in_shape, options, out, monkeypatch):
    """Chunks dealt to 1, 2 or 3 threads: forward, dx and the gradients are identical, for batches of one chunk,
    a few chunks and more chunks than workers, with a short last chunk."""
    import zoo_builtins.convolution as convolution

    results = []
    for workers in (1, 2, 3):
        monkeypatch.setattr(convolution, "compute_threads", lambda workers=workers: workers)
        layer, shape = conv_layer(in_shape, options, np.float32)
        assert layer.zoo_threads == workers
        runs = []
        for n in (1, layer._chunk, 2 * layer._chunk + 1, 5 * layer._chunk + 3):
            rng = np.random.default_rng(n)
            x = rng.standard_normal((n, *in_shape)).astype(np.float32)
            dy = rng.standard_normal((n, *shape)).astype(np.float32)
            y = layer.forward(x, True).copy()
            runs.append((y, layer.backward(dy).copy(), *(p.grad.copy() for p in layer.params())))
        results.append(runs)
    for other in results[1:]:
        for run, expected in zip(other, results[0]):
            for got, want in zip(run, expected):
                np.testing.assert_array_equal(got, want)


def test_workers_follow_the_blas_thread_variables(monkeypatch):
    """One worker when OPENBLAS_NUM_THREADS asks for one thread (as zoo's sweep trials do), else one per core."""
    from zoo import cores

    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert conv_layer(*GEOMETRIES[0][:2])[0].zoo_threads == 1
    for name in cores.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert conv_layer(*GEOMETRIES[0][:2])[0].zoo_threads == cores.cores()
