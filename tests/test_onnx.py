"""``zoo export --format onnx``: the exported graph gives zoo's own probabilities, and what cannot export says so.

Three networks are trained for a few dozen steps on real MNIST (so batch norm's running
statistics are not the initial ones), saved as model files and exported through the CLI; onnx's
pure-Python ReferenceEvaluator, and onnxruntime when installed, must reproduce zoo's
probabilities on 1,000 test images. Then the conformance kit: ``zoo.testing.check_layer`` runs a
layer's ``to_onnx`` alone and compares it with the layer's evaluation-mode ``forward``.
"""

import json
import sys
import textwrap
import tomllib
import types
import warnings

import attrs
import numpy as np
import onnx
import pytest
from onnx.reference import ReferenceEvaluator
from typer.testing import CliRunner
from zoo_builtins.convolution import Conv2D
from zoo_builtins.layers import Dense
from zoo_builtins.normalization import BatchNorm

import zoo
import zoo.testing
from zoo import modelfile
from zoo.cli import app
from zoo.config import ModelEntry
from zoo.entries import load_entry
from zoo.errors import PluginError, ZooError
from zoo.loading import default_catalog
from zoo.network import build_network
from zoo.onnx_export import ExportError, export, to_onnx_model
from zoo.testing import ConformanceError, NotChecked
from zoo.training import train

runner = CliRunner()
TOLERANCE = 1e-5
"""Largest difference allowed between an exported graph's probabilities and zoo's."""
SHIPPED = "seed-000-random-sample-sgd"

EVERY_LAYER = """
description = "Every built-in layer the way an export can get it wrong, in float64, ending in softmax."
layers = [
    {type = "conv2d", filters = 4, kernel = 3, stride = 2, padding = "same"},  # 28 -> 14: one zero after, none before
    {type = "batchnorm"},
    {type = "relu"},
    {type = "maxpool2d", size = 3, stride = 2},
    {type = "conv2d", filters = 6, kernel = [3, 2], padding = "same", bias = false},
    {type = "tanh"},
    {type = "conv2d", filters = 6, kernel = 3, padding = 1, stride = 2},
    {type = "avgpool2d", size = 2, stride = 1},  # few outputs: the reference evaluator pools value by value
    {type = "global_avgpool"},
    {type = "dense", units = 16},
    {type = "batchnorm", momentum = 0.5},
    {type = "sigmoid"},
    {type = "dropout", rate = 0.2},
    {type = "dense", units = 10},
    {type = "softmax"},
]
loss = {type = "cross_entropy"}
optimizer = {type = "adam", lr = 0.01}
batches = {type = "shuffled", size = 32}
train = {steps = 40, dtype = "float64"}
"""
MODELS = {"mlp": "tuned-784-10-10-adam", "lenet-5": "lenet-5", "every-layer": "every-layer.toml"}
STEPS = {"mlp": 30, "lenet-5": 20, "every-layer": 40}


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def exported(small_mnist, catalog, tmp_path_factory):
    """``(model file, ONNX file)`` of each of MODELS: trained, saved and exported by ``zoo export`` when first asked."""
    directory = tmp_path_factory.mktemp("models")
    (directory / MODELS["every-layer"]).write_text(EVERY_LAYER)
    made = {}

    def make(key: str):
        if key not in made:
            spec = MODELS[key] if key != "every-layer" else str(directory / MODELS[key])
            entry = load_entry(spec, catalog, [f"train.steps={STEPS[key]}"])
            network, _ = train(entry, small_mnist, catalog, test=False)
            path = modelfile.save(directory / f"{key}.npz", network, entry, meta={})
            result = run("export", path, "--format", "onnx", "--out", directory / f"{key}.onnx")
            assert result.exit_code == 0, result.stderr
            made[key] = path, directory / f"{key}.onnx"
        return made[key]

    return make


def mnist_batch(mnist, network, count=1000) -> np.ndarray:
    """The first ``count`` MNIST test images as float32 ``(N, *in_shape)`` in [0, 1], as zoo scales them."""
    images = mnist.test_images[:count].astype(np.float32) * np.float32(1 / 255)
    return images.reshape(count, *network.in_shape)


def zoo_probabilities(network, entry, images: np.ndarray) -> np.ndarray:
    """Softmax of the network's evaluation-mode output, in float64, unless its last layer is a softmax already."""
    output = network.forward(images.astype(network.dtype), training=False).astype(np.float64)
    if entry.layers[-1].ref.type == "softmax":
        return output
    exp = np.exp(output - output.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("key", MODELS)
def test_the_onnx_reference_evaluator_reproduces_zoos_probabilities(key, exported, mnist, catalog):
    model_file, onnx_file = exported(key)
    onnx.checker.check_model(str(onnx_file), full_check=True)
    network, entry, _ = modelfile.load(model_file, catalog)
    images = mnist_batch(mnist, network)
    expected = zoo_probabilities(network, entry, images)
    got = ReferenceEvaluator(str(onnx_file)).run(None, {"images": images})[0]
    assert got.shape == (1000, 10) and got.dtype == np.float32
    assert np.abs(got - expected).max() <= TOLERANCE
    assert (expected.argmax(axis=1) == mnist.test_labels[:1000]).mean() > 0.2  # trained: outputs worth comparing
    running = [value for name, value in network.state().items() if name.endswith("running_mean")]
    assert all(np.abs(value).max() > 0.01 for value in running)  # batch norm exports what training left


@pytest.mark.parametrize("key", MODELS)
def test_onnxruntime_gives_the_same_probabilities_for_any_batch_size(key, exported, mnist, catalog):
    ort = pytest.importorskip("onnxruntime")
    model_file, onnx_file = exported(key)
    network, entry, _ = modelfile.load(model_file, catalog)
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    for count in (1, 1000):
        images = mnist_batch(mnist, network, count)
        got = session.run(["probabilities"], {"images": images})[0]
        assert np.abs(got - zoo_probabilities(network, entry, images)).max() <= TOLERANCE


def test_the_graph_takes_images_of_any_batch_and_records_its_entry_and_classes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("export", SHIPPED)  # shipped weights, by entry name; the file is named after it, here
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == (
        f"{SHIPPED}.onnx: {SHIPPED} as ONNX (opset 17): images float32 (N, 1, 28, 28) in [0, 1] "
        "-> probabilities float32 (N, 10)"
    )
    model = onnx.load(tmp_path / f"{SHIPPED}.onnx")
    (images,), (probabilities,) = model.graph.input, model.graph.output
    dims = lambda info: [d.dim_param or d.dim_value for d in info.type.tensor_type.shape.dim]  # noqa: E731
    assert (images.name, dims(images)) == ("images", ["N", 1, 28, 28])
    assert (probabilities.name, dims(probabilities)) == ("probabilities", ["N", 10])
    assert images.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    metadata = {prop.key: prop.value for prop in model.metadata_props}
    assert metadata == {"entry": SHIPPED, "classes": json.dumps([str(digit) for digit in range(10)])}
    assert sorted(i.name for i in model.graph.initializer) == ["layers.0.W", "layers.0.b", "layers.2.W", "layers.2.b"]


def test_json_output_and_an_out_path_in_a_new_directory(tmp_path):
    out = tmp_path / "new" / "dir" / "m.onnx"
    result = run("export", SHIPPED, "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "name": SHIPPED,
        "path": str(out),
        "format": "onnx",
        "opset": 17,
        "input": {"name": "images", "shape": ["N", 1, 28, 28], "dtype": "float32"},
        "output": {"name": "probabilities", "shape": ["N", 10], "dtype": "float32"},
    }
    onnx.checker.check_model(str(out), full_check=True)


# A plugin whose layer has no to_onnx, loaded as the CLI loads plugins that are not installed.
OPAQUE_PLUGIN = """
import attrs
import zoo

@attrs.define
class Opaque:
    zoo_contract = 2
    def build(self, in_shape, dtype, rng):
        return in_shape
    def params(self):
        return []
    def forward(self, x, training):
        return x
    def backward(self, dy, need_dx=True):
        return dy

@zoo.hookimpl
def register_layers(register):
    register("opaque", Opaque)
"""
USES_OPAQUE = """
description = "an MLP whose last layer cannot export"
layers = [{type = "dense", units = 16}, {type = "relu"}, {type = "dense", units = 10}, {type = "opaque"}]
loss = {type = "softmax_cross_entropy"}
optimizer = {type = "sgd", lr = 0.1}
batches = {type = "shuffled", size = 64}
train = {steps = 1}
"""


@pytest.fixture
def opaque_model(tmp_path, monkeypatch):
    """A model file using the plugin layer ``opaque``, with the plugin loaded through ZOO_PLUGINS."""
    plugin = tmp_path / "opaque_plugin.py"
    plugin.write_text(OPAQUE_PLUGIN)
    (tmp_path / "uses-opaque.toml").write_text(USES_OPAQUE)
    monkeypatch.setenv("ZOO_PLUGINS", str(plugin))
    monkeypatch.setattr("sys.path", list(sys.path))  # undo the directory the plugin adds
    default_catalog.cache_clear()
    catalog = default_catalog()
    entry = load_entry(str(tmp_path / "uses-opaque.toml"), catalog)
    network = build_network(entry, catalog, (1, 28, 28), 10, np.random.SeedSequence(0))
    yield modelfile.save(tmp_path / "opaque.npz", network, entry, meta={})
    default_catalog.cache_clear()


def test_a_layer_that_cannot_export_is_one_line_naming_it_and_the_old_file_stays(opaque_model, tmp_path):
    out = tmp_path / "out" / "model.onnx"
    out.parent.mkdir()
    out.write_bytes(b"an older export")
    line = error_line(run("export", opaque_model, "--out", out))
    assert line == (
        f"error: {opaque_model} (stored entry): layers.3 (opaque): cannot export to ONNX: the layer class "
        "opaque_plugin.Opaque has no to_onnx(graph, x) method; implement it to export this layer "
        "(see 'Exporting to ONNX' in docs/plugins.md)"
    )
    assert out.read_bytes() == b"an older export" and [p.name for p in out.parent.iterdir()] == ["model.onnx"]


def test_an_export_replaces_an_older_file_whole(tmp_path):
    out = tmp_path / "model.onnx"
    out.write_bytes(b"an older export")
    assert run("export", SHIPPED, "--out", out).exit_code == 0
    onnx.checker.check_model(str(out), full_check=True)
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_an_out_path_that_is_a_directory_is_refused(tmp_path):
    line = error_line(run("export", SHIPPED, "--out", tmp_path))
    assert line == f"error: {tmp_path}: is a directory; give a file name such as {tmp_path / SHIPPED}.onnx"


def test_an_unknown_format_suggests_the_known_one(tmp_path):
    line = error_line(run("export", SHIPPED, "--format", "onx", "--out", tmp_path / "m.onx"))
    assert line == "error: unknown export format 'onx'; did you mean 'onnx'? (available: onnx)"
    assert not (tmp_path / "m.onx").exists()


def test_without_the_onnx_package_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # what `import onnx` meets when it is not installed
    line = error_line(run("export", SHIPPED, "--out", tmp_path / "m.onnx"))
    assert line == (
        "error: exporting to ONNX needs the onnx package, which is not installed: pip install 'numpy-zoo[onnx]'"
    )
    assert not (tmp_path / "m.onnx").exists()


@attrs.define(eq=False)
class LeakyReLU:
    """A contract-1 layer (flat batches, no ``zoo_contract``) that exports itself."""

    alpha: float = 0.1
    seen: tuple = ()
    """The input shape its to_onnx was given."""

    def build(self, in_features, dtype, rng):
        return in_features

    def params(self):
        return []

    def forward(self, x, training):
        return np.where(x > 0, x, x * x.dtype.type(self.alpha))

    def backward(self, dy, need_dx=True):
        raise NotImplementedError  # never trained here

    def to_onnx(self, graph, x):
        self.seen = graph.in_shape
        return graph.node("LeakyRelu", [x], alpha=self.alpha)


@attrs.define(eq=False)
class Identity:
    """A contract-2 identity whose to_onnx goes wrong in the way ``mistake`` names ("": none, it returns ``x``)."""

    mistake: str = ""

    zoo_contract = 2

    def build(self, in_shape, dtype, rng):
        return in_shape

    def params(self):
        return []

    def forward(self, x, training):
        return x

    def backward(self, dy, need_dx=True):
        return dy

    def to_onnx(self, graph, x):
        if self.mistake == "raises":
            raise KeyError("oops")
        if self.mistake == "refuses":
            raise NotImplementedError("identity cannot export on Tuesdays")
        if self.mistake == "misshapen":
            return graph.node("Flatten", [x], axis=1)
        if self.mistake == "unknown-input":
            return graph.node("Relu", ["layers.0.W"])
        if self.mistake == "bad-attribute":
            return graph.node("Relu", [x], alpha=0.1)
        if self.mistake == "returns-none":
            return None
        if self.mistake == "negates":
            return graph.node("Neg", [x])
        return x


class ExportPlugins:
    @zoo.hookimpl
    def register_layers(self, register):
        register("leaky_relu_v1", LeakyReLU)
        register("identity", Identity)


def network_of(layers: str, catalog):
    """A network of the built-in loss and optimizer around ``layers`` (TOML), as built (untrained), and its entry."""
    table = f"""
        description = "a test network"
        layers = {layers}
        loss = {{type = "softmax_cross_entropy"}}
        optimizer = {{type = "sgd", lr = 0.1}}
        batches = {{type = "shuffled", size = 64}}
        train = {{steps = 1}}
    """
    entry = ModelEntry.from_table("test", tomllib.loads(textwrap.dedent(table)), "t", catalog)
    return build_network(entry, catalog, (1, 28, 28), 10, np.random.SeedSequence(1)), entry


def test_a_contract_1_layer_that_exports_itself_sees_its_input_flattened(mnist):
    catalog = zoo.testing.catalog_with(ExportPlugins())
    layers = """[
        {type = "conv2d", filters = 2, kernel = 3}, {type = "leaky_relu_v1", alpha = 0.2}, {type = "dense", units = 10}
    ]"""
    network, entry = network_of(layers, catalog)
    model = to_onnx_model(network, entry)
    assert network.layers[1].layer.seen == (2 * 26 * 26,)
    images = mnist_batch(mnist, network, 100)
    got = ReferenceEvaluator(model).run(None, {"images": images})[0]
    assert np.abs(got - zoo_probabilities(network, entry, images)).max() <= TOLERANCE


@pytest.mark.parametrize(
    "mistake, error, message",
    [
        ("raises", PluginError, "test_onnx.Identity.to_onnx raised KeyError: 'oops'"),
        ("refuses", ExportError, "cannot export to ONNX: identity cannot export on Tuesdays"),
        ("misshapen", PluginError, "its ONNX part gives samples of shape (784,), but build said (1, 28, 28)"),
        (
            "unknown-input",
            PluginError,
            "test_onnx.Identity.to_onnx raised ValueError: Relu node: ['layers.0.W'] are not tensors of the graph: "
            "constant() and node() name them",
        ),
        ("bad-attribute", PluginError, "its ONNX part is invalid: Unrecognized attribute: alpha for operator Relu"),
        (
            "returns-none",
            PluginError,
            "test_onnx.Identity.to_onnx returned None, not the name of a tensor of the graph",
        ),
    ],
)
def test_a_to_onnx_that_goes_wrong_is_one_line_naming_the_layer_and_writes_nothing(mistake, error, message, tmp_path):
    catalog = zoo.testing.catalog_with(ExportPlugins())
    layers = f'[{{type = "identity", mistake = "{mistake}"}}, {{type = "dense", units = 10}}]'
    network, entry = network_of(layers, catalog)
    with pytest.raises(error) as raised:
        export(network, entry, tmp_path / "m.onnx")
    assert isinstance(raised.value, ZooError) and str(raised.value).startswith(f"t: layers.0 (identity): {message}")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# the conformance kit: check_layer runs to_onnx alone and compares it with forward(x, training=False)

KIT = zoo.testing.catalog_with(ExportPlugins())


def identity_with(mistake: str, in_shape: tuple) -> str:
    """How the kit's errors name the layer ``identity`` made with ``mistake``."""
    options = {"mistake": mistake}
    return (
        f"layer 'identity' (plugin '{__name__}.ExportPlugins', not installed, options {options}, in_shape {in_shape})"
    )


def test_every_built_in_layer_exports_itself():
    built_in = [record for record in default_catalog().records("layer") if record.package == "numpy-zoo"]
    assert len(built_in) >= 12
    assert [r.name for r in built_in if not callable(getattr(r.factory, "to_onnx", None))] == []


def test_a_correct_to_onnx_passes_check_layer_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        zoo.testing.check_layer("identity", catalog=KIT, in_shape=(2, 3, 3))


@pytest.mark.parametrize(
    "mistake, in_shape, detail",
    [
        ("raises", (5,), "test_onnx.Identity.to_onnx raised KeyError: 'oops'"),
        ("misshapen", (1, 4, 4), "its ONNX part gives samples of shape (16,), but build said (1, 4, 4)"),
        (
            "unknown-input",
            (5,),
            "test_onnx.Identity.to_onnx raised ValueError: Relu node: ['layers.0.W'] are not tensors of the graph",
        ),
        ("bad-attribute", (5,), "its ONNX part is invalid: Unrecognized attribute: alpha for operator Relu"),
        ("returns-none", (5,), "test_onnx.Identity.to_onnx returned None, not the name of a tensor of the graph"),
        ("negates", (5,), "on a float32 batch [4, 5], what onnx's reference evaluator computes from its graph differs"),
    ],
)
def test_a_wrong_to_onnx_fails_check_layer_naming_the_layer(mistake, in_shape, detail):
    with pytest.raises(ConformanceError) as raised:
        zoo.testing.check_layer("identity", {"mistake": mistake}, catalog=KIT, in_shape=in_shape)
    error = raised.value
    assert str(error).startswith(f"{identity_with(mistake, in_shape)} fails the ONNX export check: {detail}")
    assert (error.name, error.check) == ("identity", "the ONNX export check") and "\n" not in str(error)
    if mistake == "raises":  # the plugin's own traceback is kept for its author
        assert isinstance(error.__cause__, KeyError)


def _flipped_conv(self, graph, x):
    """A convolution (the kernel flipped) where zoo's conv2d correlates: right shapes, wrong values."""
    W = graph.constant("W", self.params()[0].value[..., ::-1, ::-1])
    g = self._g
    return graph.node("Conv", [x, W, graph.constant("b", self.params()[1].value)], kernel_shape=list(g.kernel))


def _dense_without_bias(self, graph, x):
    """Right while the bias is its initial zeros: the kit moves parameters off their initial values."""
    return graph.node("MatMul", [x, graph.constant("W", self.params()[0].value)])


def _batchnorm_on_initial_statistics(self, graph, x):
    """Right while the running statistics are their initial 0 and 1: the kit moves them with training forwards."""
    gamma, beta = (graph.constant(p.name, p.value) for p in self.params())
    channels = len(self.params()[0].value)
    mean, var = graph.constant("mean", np.zeros(channels)), graph.constant("var", np.ones(channels))
    return graph.node("BatchNormalization", [x, gamma, beta, mean, var], epsilon=self.eps)


@pytest.mark.parametrize(
    "cls, wrong, name, options, in_shape",
    [
        (Conv2D, _flipped_conv, "conv2d", {"filters": 2, "kernel": 3}, (2, 5, 5)),
        (Dense, _dense_without_bias, "dense", {"units": 3}, (5,)),
        (BatchNorm, _batchnorm_on_initial_statistics, "batchnorm", {}, (2, 3, 3)),
    ],
)
def test_check_layer_catches_a_built_in_exported_wrongly(cls, wrong, name, options, in_shape, monkeypatch):
    zoo.testing.check_layer(name, options, catalog=default_catalog(), in_shape=in_shape)  # as it is: it passes
    monkeypatch.setattr(cls, "to_onnx", wrong)
    with pytest.raises(ConformanceError, match=rf"^layer '{name}' .* fails the ONNX export check: on a float32 batch"):
        zoo.testing.check_layer(name, options, catalog=default_catalog(), in_shape=in_shape)


def test_a_to_onnx_that_refuses_the_options_is_not_checked_and_says_so():
    with pytest.warns(NotChecked) as caught:
        zoo.testing.check_layer("identity", {"mistake": "refuses"}, catalog=KIT)
    assert [str(w.message) for w in caught] == [
        "check_layer('identity', {'mistake': 'refuses'}, in_shape=(5,)) did not check its to_onnx: "
        "cannot export to ONNX: identity cannot export on Tuesdays"
    ]
    assert caught[0].filename == __file__  # the warning points at the author's call


def test_without_onnx_a_layer_with_to_onnx_warns_and_one_without_is_checked_silently(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # what importing meets when onnx is not installed
    monkeypatch.setitem(sys.modules, "onnx.reference", None)
    with pytest.warns(NotChecked) as caught:
        zoo.testing.check_layer("identity", {"mistake": "negates"}, catalog=KIT)
    assert [str(w.message) for w in caught] == [
        "check_layer('identity', {'mistake': 'negates'}, in_shape=(5,)) did not check its to_onnx: "
        "the onnx package is not installed: pip install 'numpy-zoo[onnx]'"
    ]
    opaque = types.ModuleType("opaque_plugin")
    exec(OPAQUE_PLUGIN, opaque.__dict__)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        zoo.testing.check_layer("opaque", catalog=zoo.testing.catalog_with(opaque))
