"""The Python API: zoo.list_entries, create, train, load and the Model's predict, evaluate, save and display."""

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import zoo
from zoo.cli.app import app
from zoo.errors import ConfigError, DataError, PluginError, ZooError
from zoo.layers import Param

QUICK = {"train.steps": 20}


@pytest.fixture(scope="module")
def lenet(data_env_module):
    return zoo.train("lenet-5", set=QUICK, seed=0, progress=False)


@pytest.fixture(scope="module")
def data_env_module():
    from conftest import DATA

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZOO_DATA", str(DATA))
        yield DATA


@pytest.fixture(scope="module")
def test_images(data_env_module, mnist):
    return mnist.test_images[:300], mnist.test_labels[:300]


def test_the_public_names_are_the_functions_even_after_every_module_is_imported():
    import zoo.cli  # noqa: F401  (imports every module the CLI uses)

    assert callable(zoo.train) and callable(zoo.create) and callable(zoo.load) and callable(zoo.list_entries)
    assert callable(zoo.compare) and callable(zoo.sweep)
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        zoo.trian


def test_list_entries_filters_by_wildcard_and_tags():
    assert zoo.list_entries("seed-00[34]*") == ["seed-003-minibatch-per-layer-lr", "seed-004-online-sgd"]
    cnn = zoo.list_entries(tags="cnn")
    assert "lenet-5" in cnn and not any(name.startswith("seed-") for name in cnn)
    assert zoo.list_entries("best-*", tags=["best", "cnn"]) == ["best-cnn-20-40-bn-augment"]


def test_create_draws_the_weights_training_starts_from(data_env):
    start = zoo.create("tuned-784-10-10-adam", seed=3).network.state()
    assert all(
        np.array_equal(a, b)
        for a, b in zip(start.values(), zoo.create("tuned-784-10-10-adam", seed=3).network.state().values())
    )
    other = zoo.create("tuned-784-10-10-adam", seed=4).network.state()
    assert not np.array_equal(start["layers.0.W"], other["layers.0.W"])
    # one step of a vanishing learning rate: the weights training started from, to float32 precision
    barely = zoo.train("tuned-784-10-10-adam", set={"train.steps": 1, "optimizer.lr": 1e-30}, seed=3, progress=False)
    for name, value in barely.network.state().items():
        np.testing.assert_allclose(value, start[name], rtol=0, atol=1e-20)


def test_train_gives_the_numbers_and_weights_zoo_train_gives(data_env, tmp_path):
    model = zoo.train("tuned-784-10-10-adam", set=QUICK, seed=2, progress=False)
    out = tmp_path / "cli.npz"
    result = CliRunner().invoke(
        app, ["train", "tuned-784-10-10-adam", "--set", "train.steps=20", "--seed", "2", "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert model.meta["test_accuracy"] == json.loads(result.stdout)["test_accuracy"]
    from_cli = zoo.load(out)
    assert all(np.array_equal(v, from_cli.network.state()[k]) for k, v in model.network.state().items())
    untimed = [[{k: v for k, v in r.items() if k != "seconds"} for r in m.history] for m in (model, from_cli)]
    assert untimed[0] == untimed[1] and len(model.history) == 1
    assert set(model.history[0]) == {"epoch", "step", "loss", "train_accuracy", "val_loss", "val_accuracy", "seconds"}


@pytest.mark.parametrize("seed", [-1, "1", 1.5, True])
def test_a_seed_that_is_not_a_non_negative_integer_is_one_error(seed):
    with pytest.raises(ConfigError, match="seed= takes a non-negative integer"):
        zoo.create("seed-000-random-sample-sgd", seed=seed)
    with pytest.raises(ConfigError, match="seed= takes a non-negative integer"):
        zoo.train("seed-000-random-sample-sgd", seed=seed, progress=False)


def test_set_takes_a_dict_or_key_value_strings_and_is_validated(data_env):
    assert zoo.create("lenet-5", set={"layers.0.filters": 4}).network.shapes[1] == (4, 28, 28)
    assert zoo.create("lenet-5", set=["layers.0.filters=5"]).network.shapes[1] == (5, 28, 28)
    with pytest.raises(ConfigError, match="layers.0: 'filters' must be an integer"):
        zoo.create("lenet-5", set={"layers.0.filters": "many"})
    with pytest.raises(ConfigError, match="not the string"):
        zoo.create("lenet-5", set="train.epochs=1")
    with pytest.raises(ZooError, match="lenet-6"):
        zoo.create("lenet-6")


def test_predictions_from_uint8_and_from_floats_in_0_1_agree_and_probabilities_sum_to_one(lenet, test_images):
    images, labels = test_images
    from_uint8 = lenet.predict_proba(images)
    from_floats = lenet.predict_proba(images.astype(np.float32) / 255)
    assert from_uint8.shape == (300, 10)
    np.testing.assert_allclose(from_uint8, from_floats, atol=1e-5)
    np.testing.assert_allclose(from_uint8.sum(axis=1), 1, atol=1e-6)
    assert np.array_equal(lenet.predict(images), from_uint8.argmax(axis=1))
    assert np.array_equal(lenet.predict(images[:, None]), lenet.predict(images))  # (N, 1, H, W) too


def test_outputs_are_copies_that_later_calls_leave_alone(lenet, test_images):
    images, _ = test_images
    first = lenet.predict_proba(images[:50])
    kept = first.copy()
    lenet.predict_proba(images[50:100])
    lenet.evaluate(images[100:], _[100:])
    assert np.array_equal(first, kept)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda x: x.astype(np.float32), r"float images must lie in \[0, 1\].*0 to 255.*divide by 255 or pass uint8"),
        (lambda x: x.astype(np.int64), "images are int64: give uint8 in 0-255 or floats in"),
        (lambda x: np.where(x > 100, np.nan, x / 255), "NaN or infinite"),
        (lambda x: x[:, :, :14], r"images of shape \(300, 28, 14\) do not fit lenet-5, which takes \(N, 1, 28, 28\)"),
        (lambda x: x[0], r"one image\? pass images\[None\]"),
        (lambda x: x.reshape(300, 784), r"\(300, 784\) do not fit"),
    ],
)
def test_images_that_would_give_silently_wrong_predictions_are_refused(lenet, test_images, make, message):
    with pytest.raises(DataError, match=message):
        lenet.predict(make(test_images[0]))


def test_probabilities_a_loss_plugin_gets_wrong_are_one_error(lenet, test_images, monkeypatch):
    monkeypatch.setattr(type(lenet.network.loss), "probabilities", lambda self, outputs: outputs[:, :3], raising=False)
    with pytest.raises(PluginError, match=r"probabilities\(\) returned shape \(300, 3\), not finite probabilities"):
        lenet.predict_proba(test_images[0])


def test_an_mlp_takes_images_or_flat_rows(data_env, test_images):
    model = zoo.create("tuned-784-10-10-adam")
    images, _ = test_images
    assert np.array_equal(model.predict(images), model.predict(images.reshape(300, 1, 28, 28)))
    assert model.predict(images[:0]).shape == (0,)


def test_evaluate_uses_the_test_set_or_given_images_with_checked_labels(lenet, test_images):
    assert lenet.evaluate().accuracy == lenet.meta["test_accuracy"]
    assert lenet.evaluate().images == 10_000
    images, labels = test_images
    given = lenet.evaluate(images, labels)
    assert given.accuracy == np.mean(lenet.predict(images) == labels) and given.confusion_matrix.sum() == 300
    with pytest.raises(DataError, match="one label per image"):
        lenet.evaluate(images, labels[:10])
    with pytest.raises(DataError, match="integer class numbers"):
        lenet.evaluate(images, labels.astype(float))
    with pytest.raises(DataError, match=r"0\.\.9"):
        lenet.evaluate(images, labels + 1)
    with pytest.raises(DataError, match="together"):
        lenet.evaluate(images)


def test_save_and_load_keep_weights_state_metadata_and_history(lenet, tmp_path, test_images):
    path = lenet.save(tmp_path / "m.npz")
    loaded = zoo.load(path)
    assert np.array_equal(loaded.predict_proba(test_images[0]), lenet.predict_proba(test_images[0]))
    assert loaded.meta == lenet.meta and loaded.history == lenet.history
    assert loaded.classes == tuple(str(n) for n in range(10)) and loaded.in_shape == (1, 28, 28)
    assert "running_mean" not in str(lenet.network.state())  # lenet has no batch norm; tuned CNN's is tested below


def test_load_reads_a_run_directory_and_a_batch_norm_networks_state(data_env, runs_env):
    small_cnn = Path(__file__).parent / "data" / "small-cnn-every-layer.toml"
    result = CliRunner().invoke(app, ["train", str(small_cnn), "--set", "train.steps=3", "--json"])
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)["run"]
    model = zoo.load(runs_env / run)
    assert model.meta["run"] == run and model.meta["test_accuracy"] == json.loads(result.stdout)["test_accuracy"]
    assert model.evaluate().accuracy == model.meta["test_accuracy"]
    assert any(name.endswith("running_mean") for name in model.network.state())


def test_pretrained_weights_carry_their_recorded_metrics():
    model = zoo.create("seed-000-random-sample-sgd", pretrained=True)
    assert model.trained and model.meta["seed"] == 0 and model.meta["recipe"].startswith("sha256:")
    assert {"test_accuracy", "val_accuracy", "train_seconds", "zoo_version", "trained"} <= set(model.meta)


def test_pretrained_is_refused_where_the_weights_would_not_be_what_the_entry_says():
    with pytest.raises(ZooError, match="trained from another recipe .--set changes its recipe"):
        zoo.create("seed-000-random-sample-sgd", pretrained=True, set={"optimizer.lr": 0.02})
    with pytest.raises(ConfigError, match="trained with seed 0, not 1"):
        zoo.create("seed-000-random-sample-sgd", pretrained=True, seed=1)
    with pytest.raises(ConfigError, match="takes a registry entry's name"):
        zoo.create({"layers": []}, pretrained=True)


def test_export_onnx_writes_the_file_zoo_export_writes(lenet, tmp_path, test_images):
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    path = lenet.export_onnx(tmp_path / "lenet.onnx")
    images = test_images[0][:20]
    (probabilities,) = ReferenceEvaluator(onnx.load(path)).run(None, {"images": images[:, None] / np.float32(255)})
    np.testing.assert_allclose(probabilities, lenet.predict_proba(images), atol=1e-5)


def test_the_repr_and_the_notebook_view_show_the_layers_and_metrics(lenet):
    assert repr(lenet).startswith("Model('lenet-5', 61,706 parameters, trained: test accuracy")
    assert repr(zoo.create("lenet-5")) == "Model('lenet-5', 61,706 parameters, untrained)"
    page = lenet._repr_html_()
    assert "<table>" in page and "conv2d" in page and "(N, 6, 28, 28)" in page and "test_accuracy" in page


def test_the_notebook_view_draws_curves_given_two_log_points(data_env):
    pytest.importorskip("matplotlib")
    model = zoo.train("seed-000-random-sample-sgd", set={"train.steps": 20, "train.log_every": 10}, progress=False)
    assert 'src="data:image/png;base64,' in model._repr_html_()


class Doubling:
    """A layer defined in a notebook: y = 2x."""

    zoo_contract = 2

    def build(self, in_shape, dtype, rng):
        return in_shape

    def params(self) -> list[Param]:
        return []

    def forward(self, x, training):
        return 2 * x

    def backward(self, dy, need_dx=True):
        return 2 * dy


class NotebookLayers:
    @zoo.hookimpl
    def register_layers(self, register):
        register("doubling", Doubling)


ENTRY = {
    "name": "notebook-net",
    "layers": [{"type": "doubling"}, {"type": "dense", "units": 10}],
    "loss": {"type": "softmax_cross_entropy"},
    "optimizer": {"type": "sgd", "lr": 0.1},
    "batches": {"type": "shuffled", "size": 64},
    "train": {"steps": 5},
}


def test_a_plugin_defined_in_the_session_works_with_create_and_train_and_can_be_registered_again(data_env):
    name = zoo.register_plugin(NotebookLayers())
    try:
        assert name.endswith("NotebookLayers")
        zoo.register_plugin(NotebookLayers())  # a notebook cell run twice replaces, never clashes
        model = zoo.train(ENTRY, progress=False)
        assert model.name == "notebook-net" and 0 <= model.meta["test_accuracy"] <= 1
        assert model.network.shapes == [(1, 28, 28), (1, 28, 28), (10,)]
    finally:
        zoo.unregister_plugin(name)
    with pytest.raises(ZooError, match="unknown layer .doubling."):
        zoo.create(ENTRY)


def test_a_session_plugin_with_a_misspelt_hook_or_a_failing_hook_is_refused_at_once():
    class Misspelt:
        @zoo.hookimpl
        def register_layer(self, register):
            register("x", Doubling)

    class Failing:
        @zoo.hookimpl
        def register_layers(self, register):
            raise RuntimeError("oops")

    with pytest.raises(PluginError, match="register_layer.*did you mean 'register_layers'"):
        zoo.register_plugin(Misspelt())
    with pytest.raises(PluginError, match="register_layers raised RuntimeError: oops"):
        zoo.register_plugin(Failing())
    from zoo.session import session_plugins

    assert session_plugins() == []
    with pytest.raises(PluginError, match="no plugin 'nothing' is registered"):
        zoo.unregister_plugin("nothing")


def test_a_zoo_0_1_model_file_loads_and_takes_images_or_rows(test_images):
    old = zoo.load(Path(__file__).parent / "data" / "v1-tuned-784-10-10-adam.npz")
    assert old.in_shape == (784,)
    images, labels = test_images
    assert np.array_equal(old.predict(images), old.predict(images.reshape(300, 784)))
    assert old.evaluate(images, labels).accuracy > 0.85


def test_a_model_deep_copies_into_an_independent_model_that_predicts_alike(lenet, test_images):
    images, _ = test_images
    twin = copy.deepcopy(lenet)
    assert np.array_equal(twin.predict(images), lenet.predict(images))
    assert np.array_equal(twin.predict(images[:1]), lenet.predict(images[:1]))  # one sample: dense's BLAS path
    twin.network.params[0].value[...] = 0  # the copy's weights are its own
    assert not np.array_equal(twin.network.params[0].value, lenet.network.params[0].value)
