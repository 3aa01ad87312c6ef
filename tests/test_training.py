"""Training behaviour on small real slices of MNIST: every entry learns, seeds reproduce, faults stop cleanly."""

import attrs
import numpy as np
import pytest
from conftest import assert_same_arrays

from zoo.entries import load_entry
from zoo.training import train

# Short budgets that keep each entry's own algorithm (schedule, lr, init) but fit a test.
BRIEF = {
    "seed-000-random-sample-sgd": ["train.steps=150"],
    "seed-001-full-batch-gd": ["train.steps=100"],
    "seed-002-full-batch-gd": ["train.steps=100"],
    "seed-003-minibatch-per-layer-lr": ["train.epochs=8"],  # its N(0, 0.01²) init starts slowly
    "seed-004-online-sgd": ["train.epochs=1"],
    "study-003-dropout": ["train.epochs=8"],  # seed 003's slow start, with dropout
}


def brief(name, catalog):
    overrides = BRIEF.get(name, ["train.epochs=1"])
    return load_entry(name, catalog, overrides)


@pytest.mark.parametrize("name", sorted(BRIEF))
def test_seed_entries_learn_on_a_small_real_subset(name, catalog, small_mnist):
    _, result = train(brief(name, catalog), small_mnist, catalog)
    assert result.test_accuracy > 0.5, result  # chance is 0.1
    assert result.history and all(np.isfinite(r.loss) for r in result.history)


def test_every_registry_entry_trains_one_short_epoch(catalog, small_mnist):
    for name in catalog.names("model"):
        if name in BRIEF:
            continue
        _, result = train(brief(name, catalog), small_mnist, catalog)
        assert result.test_accuracy > 0.3, name


def test_same_seed_gives_bit_identical_weights(catalog, small_mnist):
    entry = load_entry("tuned-784-100-200-200-10-dropout-augment", catalog, ["train.steps=20"])
    first, result1 = train(entry, small_mnist, catalog, seed=7)
    second, result2 = train(entry, small_mnist, catalog, seed=7)
    assert_same_arrays(first.state(), second.state())
    assert result1.test_accuracy == result2.test_accuracy
    third, _ = train(entry, small_mnist, catalog, seed=8)
    assert not np.array_equal(first.state()["layers.0.W"], third.state()["layers.0.W"])


def test_float32_by_default_and_float64_on_request(catalog, small_mnist):
    entry = load_entry("seed-000-random-sample-sgd", catalog, ["train.steps=5"])
    network, _ = train(entry, small_mnist, catalog)
    assert {p.value.dtype for p in network.params} == {np.dtype(np.float32)}
    entry64 = load_entry("seed-000-random-sample-sgd", catalog, ["train.steps=5", "train.dtype=float64"])
    network64, _ = train(entry64, small_mnist, catalog)
    assert {p.value.dtype for p in network64.params} == {np.dtype(np.float64)}


def test_first_layer_trains_unless_its_own_learning_rate_is_tiny(catalog, small_mnist):
    entry = load_entry("seed-003-minibatch-per-layer-lr", catalog, ["train.steps=20"])
    frozen = load_entry("seed-003-minibatch-per-layer-lr", catalog, ["train.steps=20", "layers.0.lr=1e-30"])
    trained, _ = train(entry, small_mnist, catalog)
    barely, _ = train(frozen, small_mnist, catalog)
    start_entry = load_entry("seed-003-minibatch-per-layer-lr", catalog, ["train.steps=1", "layers.0.lr=1e-30"])
    start, _ = train(start_entry, small_mnist, catalog)
    # Seed 003's bug was a first layer that never trained: here it moves, unless told not to.
    assert not np.allclose(trained.state()["layers.0.W"], start.state()["layers.0.W"])
    assert np.allclose(barely.state()["layers.0.W"], start.state()["layers.0.W"])


def test_history_has_a_record_per_epoch_with_validation(catalog, small_mnist):
    entry = load_entry("seed-003-minibatch-per-layer-lr", catalog, ["train.epochs=2"])
    _, result = train(entry, small_mnist, catalog)
    assert [r.epoch for r in result.history] == [1.0, 2.0]
    assert all(r.val_accuracy is not None and 0 <= r.val_accuracy <= 1 for r in result.history)
    assert result.val_accuracy == result.history[-1].val_accuracy


def test_logging_and_validation_do_not_change_the_trajectory(catalog, small_mnist):
    """Evaluating mid-run shares the layers' buffers; it must not disturb training or its random draws."""
    name = "tuned-784-100-200-200-10-dropout-augment"
    often, _ = train(load_entry(name, catalog, ["train.steps=30", "train.log_every=7"]), small_mnist, catalog)
    never, _ = train(load_entry(name, catalog, ["train.steps=30", "train.log_every=1000"]), small_mnist, catalog)
    assert_same_arrays(often.state(), never.state())


def test_augmentation_does_not_change_the_initial_weights(catalog, small_mnist):
    name = "tuned-784-100-200-200-10-dropout-augment"
    with_augment, _ = train(load_entry(name, catalog, ["train.steps=1", "optimizer.lr=1e-30"]), small_mnist, catalog)
    entry = load_entry(name, catalog, ["train.steps=1", "optimizer.lr=1e-30"])
    without = attrs.evolve(entry, augment=())
    plain, _ = train(without, small_mnist, catalog)
    # One step at lr 1e-30 moves nothing above 1e-20: what is left is the initial draw.
    for name, value in with_augment.state().items():
        assert np.allclose(value, plain.state()[name], rtol=0, atol=1e-20), name
