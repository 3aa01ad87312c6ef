"""Test-time shifts (``[test_time]``): each view is the image moved one pixel, a trained model's predictions
average the views' probabilities wherever it predicts, and the setting is checked and is not part of the recipe."""

import json
from pathlib import Path

import attrs
import numpy as np
import pytest
from typer.testing import CliRunner

import zoo
import zoo.testing
from zoo import test_time
from zoo.cli.app import app
from zoo.config import ModelEntry
from zoo.entries import load_entry
from zoo.errors import ConfigError, DataError
from zoo.evaluate import predict
from zoo.recipe import recipe_hash
from zoo.test_time import OFFSETS, shifted_into
from zoo.training import train

SHIFTED = {"test_time.shifts": 4}


def moved(images: np.ndarray, down: int, right: int) -> np.ndarray:
    """The reference shift: ``np.roll``, then zeros where rows and columns wrapped around."""
    out = np.roll(images, (down, right), axis=(-2, -1))
    out[..., : max(down, 0), :] = 0
    out[..., out.shape[-2] + min(down, 0) :, :] = 0
    out[..., :, : max(right, 0)] = 0
    out[..., :, out.shape[-1] + min(right, 0) :] = 0
    return out


@pytest.mark.parametrize(("down", "right"), OFFSETS[8])
def test_a_view_is_the_image_moved_one_pixel_with_zeros_coming_in(down, right):
    batch = np.arange(1, 41, dtype=np.float32).reshape(2, 1, 4, 5)
    out = np.full_like(batch, np.nan)
    assert np.array_equal(shifted_into(out, batch, down, right), moved(batch, down, right))


def test_four_shifts_are_the_axis_moves_and_eight_add_the_diagonals():
    assert sorted(OFFSETS[4]) == [(-1, 0), (0, -1), (0, 1), (1, 0)]
    assert set(OFFSETS[4]) < set(OFFSETS[8]) and len(set(OFFSETS[8])) == 8 and (0, 0) not in OFFSETS[8]


@pytest.mark.parametrize("shifts", [4, 8])
def test_predictions_average_the_probabilities_of_the_image_and_its_shifts(mnist, shifts):
    model = zoo.create("lenet-5", set={"test_time.shifts": shifts}, seed=0)
    plain = zoo.create("lenet-5", seed=0)
    images, labels = mnist.test_images[:60], mnist.test_labels[:60]
    views = [(0, 0), *OFFSETS[shifts]]
    expected = np.mean([plain.predict_proba(moved(images, *view)) for view in views], axis=0)
    averaged = model.predict_proba(images)
    np.testing.assert_allclose(averaged, expected, rtol=1e-6, atol=1e-9)
    assert not np.allclose(averaged, plain.predict_proba(images), atol=1e-3)  # the views do change something
    assert np.array_equal(model.predict(images), expected.argmax(axis=1))
    # The engine's predict (train's test figure, zoo evaluate) gives the same classes as the Python API.
    engine = predict(model.network, images, test_time=model.entry.test_time)
    assert np.array_equal(engine, model.predict(images))
    evaluation = model.evaluate(images, labels)
    assert evaluation.accuracy == np.mean(engine == labels)
    assert evaluation.loss == plain.evaluate(images, labels).loss  # the loss is the network's own, on the images


def test_training_tests_with_the_shifts_and_the_model_file_records_them(catalog, small_mnist, data_env, tmp_path):
    entry = load_entry("lenet-5", catalog, ["train.steps=30", "test_time.shifts=4"])
    network, result = train(entry, small_mnist, catalog)
    shifted = predict(network, small_mnist.test_images, test_time=entry.test_time)
    assert np.array_equal(result.test_predictions, shifted)
    assert not np.array_equal(shifted, predict(network, small_mnist.test_images))
    assert result.test_accuracy == np.mean(shifted == small_mnist.test_labels)

    trained = zoo.train("lenet-5", set={"train.steps": 30, **SHIFTED}, seed=0, progress=False)
    assert trained.meta["test_time"] == {"shifts": 4}
    loaded = zoo.load(trained.save(tmp_path / "m.npz"))
    assert loaded.entry.test_time.shifts == 4
    assert loaded.meta["test_accuracy"] == loaded.evaluate().accuracy


def test_zoo_evaluate_gives_both_figures(data_env, tmp_path, mnist):
    path = zoo.create("lenet-5", set=SHIFTED, seed=0).save(tmp_path / "m.npz")
    result = CliRunner().invoke(app, ["evaluate", str(path), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    plain = zoo.create("lenet-5", seed=0)
    assert document["test_time_shifts"] == 4
    assert document["single_view_test_accuracy"] == plain.evaluate(mnist.test_images, mnist.test_labels).accuracy
    assert document["test_accuracy"] == zoo.load(path).evaluate(mnist.test_images, mnist.test_labels).accuracy
    text = CliRunner().invoke(app, ["evaluate", str(path)]).output
    assert "averaged with its 4 one-pixel shifts" in text and "on each image alone" in text


def test_the_shifts_are_not_part_of_the_recipe(catalog):
    """They change how a trained network predicts, not what it trains: shipped weights stay valid."""
    shifted = load_entry("lenet-5", catalog, ["test_time.shifts=4"])
    assert shifted.test_time.shifts == 4
    assert recipe_hash(shifted, catalog) == recipe_hash(load_entry("lenet-5", catalog), catalog)
    assert recipe_hash(load_entry("lenet-5", catalog, ["train.seed=1"]), catalog) != recipe_hash(shifted, catalog)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("test_time.shifts=3", r"test_time\.shifts: expected 0, 4 or 8, got 3"),
        ("test_time.shifts=true", r"test_time\.shifts: expected an integer, got True"),
        ("test_time.shift=4", r"test_time.*'shift'.*did you mean 'shifts'"),
    ],
)
def test_a_wrong_setting_is_one_line_naming_the_key(catalog, override, message):
    with pytest.raises(ConfigError, match=message):
        load_entry("lenet-5", catalog, [override])


class NoProbabilities:
    """A loss that gives no probabilities."""

    def forward(self, outputs, labels):
        return 0.0

    def backward(self):
        return None


class NoProbabilitiesPlugin:
    @zoo.hookimpl
    def register_losses(self, register):
        register("no_probabilities", NoProbabilities)


def test_a_loss_without_probabilities_is_refused_before_training():
    catalog = zoo.testing.catalog_with(NoProbabilitiesPlugin())
    table = {
        "layers": [{"type": "dense", "units": 10}],
        "loss": {"type": "no_probabilities"},
        "optimizer": {"type": "sgd", "lr": 0.1},
        "batches": {"type": "shuffled", "size": 8},
        "train": {"steps": 1},
        "test_time": {"shifts": 4},
    }
    with pytest.raises(ConfigError, match=r"test_time\.shifts: loss 'no_probabilities' does not turn outputs"):
        ModelEntry.from_table("x", table, "x.toml", catalog)
    del table["test_time"]
    ModelEntry.from_table("x", table, "x.toml", catalog)  # without shifts the loss is fine


def test_flat_images_cannot_be_shifted(mnist):
    """A network on flat input (a zoo 0.1 file) takes images of any shape with its pixels: only 2-D ones shift."""
    model = zoo.load(Path(__file__).parent / "data" / "v1-tuned-784-10-10-adam.npz")
    model.entry = attrs.evolve(model.entry, test_time=test_time.TestTimeSpec(4))
    images = mnist.test_images[:5]
    assert model.predict(images).shape == (5,)
    with pytest.raises(DataError, match=r"test_time\.shifts shifts images, so give them as \(N, H, W\)"):
        model.predict(images.reshape(5, 784))


def test_an_onnx_export_says_the_shifts_are_left_out(tmp_path):
    pytest.importorskip("onnx")
    path = zoo.create("lenet-5", set=SHIFTED, seed=0).save(tmp_path / "m.npz")
    result = CliRunner().invoke(app, ["export", str(path), "--out", str(tmp_path / "m.onnx")])
    assert result.exit_code == 0, result.output
    assert "lenet-5's 4 test-time shifts are not in it" in result.output
    result = CliRunner().invoke(app, ["export", str(path), "--out", str(tmp_path / "m.onnx"), "--json"])
    assert json.loads(result.output)["test_time_shifts_left_out"] == 4
