"""Weight averaging (``[train.average]``): the average follows its formula, watches training without
changing it, is what is validated, kept and saved, and allocates nothing per step."""

import tracemalloc

import numpy as np
import pytest

from zoo import checkpoint as checkpoints
from zoo import modelfile
from zoo.averaging import AverageSpec, WeightAverage
from zoo.entries import load_entry
from zoo.evaluate import evaluate
from zoo.training import Interrupted, train

ENTRY = "tuned-784-10-10-adam"
SHORT = ["train.steps=60", "train.log_every=20"]


def test_the_average_follows_its_formula_and_copies_integer_state():
    rng = np.random.default_rng(0)
    states = [{"w": rng.standard_normal((3, 4)).astype(np.float32), "count": np.array([i])} for i in range(40)]
    average = WeightAverage.of(AverageSpec(decay=0.9), states[0])
    expected = states[0]["w"].astype(np.float64)
    for n, state in enumerate(states[1:], start=1):
        average.update(state)
        decay = min(0.9, (1 + n) / (10 + n))  # the cap holds the first steps back from the initial weights
        expected = decay * expected + (1 - decay) * state["w"]
    np.testing.assert_allclose(average.arrays["w"], expected, rtol=1e-5)
    assert average.arrays["w"].dtype == np.float32 and average.updates == 39
    assert average.arrays["count"] == [39]


def test_an_update_allocates_nothing():
    state = {"w": np.ones((256, 256), np.float32), "b": np.zeros(256, np.float32)}
    average = WeightAverage.of(AverageSpec(), state)
    average.update(state)
    tracemalloc.start()
    for _ in range(5):
        average.update(state)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4096, f"{peak} bytes allocated by five updates of 65,792 values"


def test_averaging_watches_training_without_changing_it(catalog, small_mnist, tmp_path):
    plain, plain_result = train(load_entry(ENTRY, catalog, SHORT), small_mnist, catalog)
    entry = load_entry(ENTRY, catalog, [*SHORT, "train.average.decay=0.99"])
    averaged, result = train(entry, small_mnist, catalog)
    trained = lambda r: (r.step, r.loss, r.train_accuracy)  # noqa: E731  (the training batches' own metrics)
    assert list(map(trained, result.history)) == list(map(trained, plain_result.history))
    assert not np.array_equal(averaged.state()["layers.0.W"], plain.state()["layers.0.W"])
    # What was validated at the last log point is the model kept, tested and saved.
    last = result.history[-1]
    assert evaluate(averaged, small_mnist.val_images, small_mnist.val_labels) == (last.val_loss, last.val_accuracy)
    assert result.val_accuracy == last.val_accuracy
    modelfile.save(tmp_path / "m.npz", averaged, entry, meta={})
    loaded, _, _ = modelfile.load(tmp_path / "m.npz", catalog)
    assert evaluate(loaded, small_mnist.val_images, small_mnist.val_labels)[1] == last.val_accuracy


def test_a_tiny_decay_averages_the_live_weights(catalog, small_mnist):
    """With almost no memory the average is the last step's weights: it watches the right arrays."""
    plain, _ = train(load_entry(ENTRY, catalog, SHORT), small_mnist, catalog)
    averaged, _ = train(load_entry(ENTRY, catalog, [*SHORT, "train.average.decay=1e-9"]), small_mnist, catalog)
    for key, value in plain.state().items():
        np.testing.assert_allclose(averaged.state()[key], value, rtol=1e-5, atol=1e-7)


def test_early_stopping_keeps_the_best_average(catalog, small_mnist):
    overrides = ["train.steps=200", "train.log_every=20", "train.early_stopping.patience=100"]
    entry = load_entry(ENTRY, catalog, [*overrides, "optimizer.lr=0.02", "train.average.decay=0.9"])
    network, result = train(entry, small_mnist, catalog)
    best = max(result.history, key=lambda r: r.val_accuracy)
    assert (result.kept_epoch, result.val_accuracy) == (best.epoch, best.val_accuracy)
    assert evaluate(network, small_mnist.val_images, small_mnist.val_labels) == (best.val_loss, best.val_accuracy)


def test_a_checkpoint_without_the_average_is_refused(catalog, small_mnist):
    saved = []
    with pytest.raises(Interrupted):
        train(
            load_entry(ENTRY, catalog, SHORT),
            small_mnist,
            catalog,
            on_checkpoint=saved.append,
            should_stop=iter([False] * 5 + [True]).__next__,
        )
    entry = load_entry(ENTRY, catalog, [*SHORT, "train.average.decay=0.99"])
    with pytest.raises(checkpoints.CheckpointError, match="weight average does not match the entry"):
        train(entry, small_mnist, catalog, resume=saved[-1])
