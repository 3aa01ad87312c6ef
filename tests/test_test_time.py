"""Test-time shifts (``[test_time]``): each view is the image moved one pixel, a trained model's predictions
average the views' probabilities wherever it predicts, and the setting is checked and is not part of the recipe."""

import json
from pathlib import Path

import attrs
import numpy as np
import pytest
from conftest import assert_same_arrays
from typer.testing import CliRunner

import zoo
import zoo.testing
from zoo import modelfile, test_time
from zoo.cli.app import app
from zoo.comparison import compare
from zoo.config import ModelEntry
from zoo.entries import load_entry
from zoo.errors import ConfigError, DataError, PluginError
from zoo.evaluate import predict
from zoo.recipe import recipe_hash
from zoo.results import SweepResult
from zoo.sweeps import sweep
from zoo.test_time import OFFSETS, shifted_into
from zoo.training import train
from zoo.trial import check_fits

SHIFTED = {"test_time.shifts": 4}
ROOT = Path(__file__).resolve().parents[1]


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
    engine = predict(model.network, images, entry=model.entry)
    assert np.array_equal(engine, model.predict(images))
    evaluation = model.evaluate(images, labels)
    assert evaluation.accuracy == np.mean(engine == labels)
    assert evaluation.loss == plain.evaluate(images, labels).loss  # the loss is the network's own, on the images


def test_training_tests_with_the_shifts_and_the_model_file_records_them(catalog, small_mnist, data_env, tmp_path):
    entry = load_entry("lenet-5", catalog, ["train.steps=30", "test_time.shifts=4"])
    network, result = train(entry, small_mnist, catalog)
    plain_network, plain_result = train(load_entry("lenet-5", catalog, ["train.steps=30"]), small_mnist, catalog)
    assert_same_arrays(network.state(), plain_network.state())  # the shifts change no training
    drop_seconds = lambda history: [attrs.evolve(r, seconds=0) for r in history]  # noqa: E731
    assert drop_seconds(result.history) == drop_seconds(plain_result.history)
    assert (result.test_time_shifts, plain_result.test_time_shifts) == (4, 0)
    shifted = predict(network, small_mnist.test_images, entry=entry)
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
        self.shape = outputs.shape
        return 0.0

    def backward(self):
        return np.zeros(self.shape, np.float32)


class BadProbabilities(NoProbabilities):
    """A loss whose probabilities have the wrong shape, raise, or are NaN on any output but zeros."""

    def __init__(self, fault: str = "shape"):
        self.fault = fault

    def probabilities(self, outputs):
        if self.fault == "raise":
            raise ValueError("no softmax\ntoday")
        if self.fault == "nan":
            return np.full(outputs.shape, np.nan if outputs.any() else 0.1)
        return np.ones(len(outputs))


class LossPlugin:
    @zoo.hookimpl
    def register_losses(self, register):
        register("no_probabilities", NoProbabilities)
        register("made_without_probabilities", lambda: NoProbabilities())  # a factory, not a class
        register("bad_probabilities", BadProbabilities)


LOSS_CATALOG = zoo.testing.catalog_with(LossPlugin())


def small_entry(loss: dict, shifts: int = 4) -> ModelEntry:
    table = {
        "layers": [{"type": "flatten"}, {"type": "dense", "units": 10}],
        "loss": loss,
        "optimizer": {"type": "sgd", "lr": 0.1},
        "batches": {"type": "shuffled", "size": 8},
        "train": {"steps": 2},
        "test_time": {"shifts": shifts},
    }
    return ModelEntry.from_table("x", table, "x.toml", LOSS_CATALOG)


@pytest.mark.parametrize("loss", ["no_probabilities", "made_without_probabilities"])
def test_a_loss_without_probabilities_is_refused_before_any_data_or_training(loss):
    with pytest.raises(
        ConfigError, match=rf"x.toml: test_time\.shifts: loss '{loss}' does not say how the network's outputs"
    ):
        check_fits(small_entry({"type": loss}), LOSS_CATALOG)
    check_fits(small_entry({"type": loss}, shifts=0), LOSS_CATALOG)  # without shifts the loss is fine


@pytest.mark.parametrize(
    ("fault", "message"),
    [("shape", r"returned shape \(2,\), not finite"), ("raise", r"raised ValueError: no softmax today$")],
)
def test_bad_probabilities_are_refused_when_the_network_is_built(fault, message):
    where = r"x.toml: test_time\.shifts: loss 'bad_probabilities': probabilities\(\) "
    with pytest.raises(PluginError, match=where + message):
        check_fits(small_entry({"type": "bad_probabilities", "fault": fault}), LOSS_CATALOG)


def test_probabilities_that_go_wrong_only_on_real_outputs_are_one_line_naming_the_loss(small_mnist):
    entry = small_entry({"type": "bad_probabilities", "fault": "nan"})
    network, _ = train(entry, small_mnist, LOSS_CATALOG, test=False)
    with pytest.raises(PluginError, match=r"x.toml: loss 'bad_probabilities': probabilities\(\) returned non-finite"):
        predict(network, small_mnist.test_images[:60], entry=entry)


def test_flat_images_cannot_be_shifted(mnist):
    """A network on flat input (a zoo 0.1 file) takes images of any shape with its pixels: only 2-D ones shift."""
    model = zoo.load(ROOT / "tests" / "data" / "v1-tuned-784-10-10-adam.npz")
    model.entry = attrs.evolve(model.entry, test_time=test_time.TestTimeSpec(4))
    images = mnist.test_images[:5]
    assert model.predict(images).shape == (5,)
    with pytest.raises(DataError, match=r"test-time shifts move images, so they must be \(N, H, W\)"):
        model.predict(images.reshape(5, 784))


def test_an_onnx_export_says_the_shifts_are_left_out(tmp_path):
    pytest.importorskip("onnx")
    path = zoo.create("lenet-5", set=SHIFTED, seed=0).save(tmp_path / "m.npz")
    result = CliRunner().invoke(app, ["export", str(path), "--out", str(tmp_path / "m.onnx")])
    assert result.exit_code == 0, result.output
    assert "lenet-5's 4 test-time shifts are not in it" in result.output
    result = CliRunner().invoke(app, ["export", str(path), "--out", str(tmp_path / "m.onnx"), "--json"])
    assert json.loads(result.output)["test_time_shifts_left_out"] == 4


def test_zoo_evaluate_says_when_the_recorded_figure_used_other_shifts(data_env, tmp_path, catalog):
    model = zoo.create("lenet-5", set=SHIFTED, seed=0)
    for recorded, said in [
        ({"shifts": 0}, "(recorded in the file: 50.00% without test-time shifts)"),
        ({"shifts": 8}, "(recorded in the file: 50.00% with 8 test-time shifts)"),
        ({"shifts": 4}, "(recorded in the file: 50.00%)"),
        (None, "with test-time shifts the file does not record readably)"),
        ("4", "with test-time shifts the file does not record readably)"),
    ]:
        path = modelfile.save(
            tmp_path / "m.npz", model.network, model.entry, meta={"test_accuracy": 0.5, "test_time": recorded}
        )
        result = CliRunner().invoke(app, ["evaluate", str(path)])
        assert result.exit_code == 0, result.output
        assert said in result.output.splitlines()[0]


def test_a_sweep_refuses_to_sweep_the_shifts(data_env):
    with pytest.raises(ConfigError, match=r"grid test_time\.shifts: test-time shifts change no training"):
        sweep("lenet-5", {"test_time.shifts": [0, 4]}, set={"data.validation": 1000})


def test_compare_warns_and_labels_contenders_that_predict_differently(data_env, tmp_path):
    shifted = tmp_path / "lenet-shifted.toml"
    shifted.write_text((ROOT / "registry" / "lenet-5.toml").read_text() + "\n[test_time]\nshifts = 4\n")
    warnings = []
    result = compare(["lenet-5", str(shifted)], set={"train.steps": 20}, jobs=1, on_warning=warnings.append)
    assert warnings == [
        f"contenders predict differently (lenet-5 no test-time shifts; {shifted} 4 test-time shifts): "
        "their test accuracies are not measured alike, their validation accuracies are (each image alone)"
    ]
    assert [row["test_time_shifts"] for row in result.rows] == [0, 4]
    header, cells = result.table()
    assert "(4 shifts)" in cells[1][1] and "shifts" not in cells[0][1]
    assert "*" not in cells[0][1] + cells[1][1]  # figures not measured alike: neither is the best
    assert "*" in cells[0][2] + cells[1][2]  # validation figures are


def test_zoo_train_says_its_test_figure_used_the_shifts_and_records_them(data_env):
    result = CliRunner().invoke(app, ["train", "lenet-5", "--set", "train.steps=20", "--set", "test_time.shifts=4"])
    assert result.exit_code == 0, result.output
    assert "(with 4 test-time shifts)" in result.stdout
    run = json.loads(CliRunner().invoke(app, ["runs", "--json"]).stdout)[0]
    assert run["metrics"]["test_time_shifts"] == 4
    assert "% (4 shifts)" in CliRunner().invoke(app, ["runs"]).stdout


def test_shipped_figures_say_which_shifts_they_used(data_env):
    listed = CliRunner().invoke(app, ["list", "best-cnn-*"]).stdout
    assert "99.65% (4 shifts)" in listed
    best = zoo.create("best-cnn-20-40-bn-augment", pretrained=True)
    assert "test accuracy 99.65 % (with 4 test-time shifts)" in repr(best)
    # Asked to predict from each image alone, the model still labels the recorded figure with its shifts.
    alone = zoo.create("best-cnn-20-40-bn-augment", pretrained=True, set={"test_time.shifts": 0})
    assert alone.entry.test_time.shifts == 0 and "(with 4 test-time shifts)" in repr(alone)
    assert "test accuracy 99.65 % (with 4 test-time shifts)" in alone._repr_html_()


def test_a_sweeps_conclusion_says_its_test_figure_used_the_shifts():
    trials = [{"settings": {"optimizer.lr": 0.1}, "val_accuracy": 0.9, "val_accuracy_std": 0.0, "seconds": 1.0}]
    result = SweepResult("g", trials, 1, 0, test_accuracy=0.91, test_time_shifts=4)
    assert result.conclusion().endswith("its test accuracy: 91.00% (with 4 test-time shifts)")
    assert result.to_dict()["test_time_shifts"] == 4
