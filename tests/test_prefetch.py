"""Prefetched batches: made a step ahead in a background thread, yet bit-identical to batches made in the loop,
checkpointed with the augment generator's state before the batch in the making, and the thread gone however
training ends."""

import threading
import time

import numpy as np
import pytest
from conftest import assert_same_arrays

import zoo
import zoo.cores
from zoo import prefetch, training
from zoo.batching import BatchMaker
from zoo.entries import load_entry
from zoo.errors import DivergenceError, ZooError
from zoo.loading import build_catalog, load_plugins
from zoo.prefetch import Batches, PrefetchedBatches, batch_feed
from zoo.training import Interrupted, train

AUGMENTED = "tuned-784-100-200-200-10-dropout-augment"  # affine shifts and rotations, dropout
ELASTIC = "best-784-800-800-10-elastic"
CORE_TO_SPARE = prefetch.core_to_spare


def prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "zoo-prefetch"]


@pytest.fixture(autouse=True)
def core_to_spare(monkeypatch):
    """Every test here prefetches where zoo would with a core to spare, whatever this machine's BLAS threads."""
    monkeypatch.setattr(prefetch, "core_to_spare", lambda: True)


@pytest.mark.parametrize(
    "variables, cores, spare",
    [
        ({}, 2, False),
        ({"OPENBLAS_NUM_THREADS": "1"}, 2, True),
        ({"OMP_NUM_THREADS": "2"}, 2, False),
        ({"OPENBLAS_NUM_THREADS": "1"}, 1, False),
        ({"MKL_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "1"}, 4, True),
    ],
)
def test_a_core_is_spared_only_when_blas_is_limited_below_the_cores(variables, cores, spare, monkeypatch):
    for name in zoo.cores.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(zoo.cores.os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert CORE_TO_SPARE() is spare  # the function itself, not the autouse fixture's stand-in


@pytest.fixture
def unprefetched(monkeypatch):
    """Train as before prefetching: every batch made in the loop, when its step asks for it."""
    monkeypatch.setattr(training, "batch_feed", lambda *args: Batches(*args))


class Reusing:
    """A third-party augmenter writing every result into the one buffer it keeps (allowed: see the hookspec)."""

    def __init__(self, fail_at=None, error=ValueError):
        self.calls, self.fail_at, self.error, self.out = 0, fail_at, error, None

    def __call__(self, images, rng):
        self.calls += 1
        if self.calls == self.fail_at:
            raise self.error(f"reusing: cannot augment batch {self.calls}")
        if self.out is None or self.out.shape != images.shape:
            self.out = np.empty_like(images)
        np.multiply(images, rng.uniform(0.5, 1.0, size=(len(images), 1, 1)), out=self.out, casting="unsafe")
        return self.out


class ReusingPlugin:
    def __init__(self, **options):
        self.options = options

    @zoo.hookimpl
    def register_augmenters(self, register):
        register("reusing", lambda **_: Reusing(**self.options))


def with_reusing(**options):
    return build_catalog(load_plugins([ReusingPlugin(**options)]))


def made_in_the_loop(images, augmenters, indices, count, seed):
    """Copies of the batches today's loop makes: ``maker.make(next(indices))`` step after step."""
    maker = BatchMaker(images, np.float32, augmenters, np.random.default_rng(seed))
    return [maker.make(next(indices)).copy() for _ in range(count)]


@pytest.mark.parametrize("augmenter", ["affine", "elastic", "flip", "reusing"])
def test_prefetched_batches_are_those_made_in_the_loop_and_stay_put_until_the_next_take(augmenter, small_mnist):
    catalog = with_reusing()
    make = lambda: [catalog.get("augmenter", augmenter).factory()]  # noqa: E731
    images, labels = small_mnist.train_images, small_mnist.train_labels
    order = lambda: iter([slice(0, 64), np.arange(100, 40, -1), slice(500, 628), np.arange(7)])  # noqa: E731
    expected = made_in_the_loop(images, make(), order(), 4, seed=5)
    maker = BatchMaker(images, np.float32, make(), np.random.default_rng(5))
    with batch_feed(maker, labels, order(), 4) as feed:
        assert isinstance(feed, PrefetchedBatches)
        previous = None
        for i, index in enumerate(order()):
            batch, y = feed.take()
            time.sleep(0.05)  # the next batch is made meanwhile, into the other buffer
            np.testing.assert_array_equal(batch, expected[i])  # bit-identical, and not overwritten
            np.testing.assert_array_equal(y, labels[index])
            assert previous is None or not np.shares_memory(batch, previous)
            previous = batch
    assert not prefetch_threads()


def test_without_augmenters_nothing_is_prefetched_and_a_full_batch_is_reused(small_mnist):
    maker = BatchMaker(small_mnist.train_images, np.float32)
    feed = batch_feed(maker, small_mnist.train_labels, iter([slice(0, 5000)] * 2), 2)
    with feed:
        assert isinstance(feed, Batches) and not prefetch_threads()
        assert feed.take()[0] is feed.take()[0]


@pytest.mark.parametrize("name, overrides", [(AUGMENTED, ["train.steps=45"]), (ELASTIC, ["train.steps=12"])])
def test_training_with_prefetch_is_bit_identical_to_training_without(name, overrides, catalog, small_mnist, request):
    entry = load_entry(name, catalog, [*overrides, "train.log_every=5"])
    prefetched, prefetched_result = train(entry, small_mnist, catalog, seed=4)
    request.getfixturevalue("unprefetched")
    plain, plain_result = train(entry, small_mnist, catalog, seed=4)
    assert_same_arrays(prefetched.state(), plain.state())
    fields = lambda r: (r.step, r.loss, r.train_accuracy, r.val_loss, r.val_accuracy)  # noqa: E731
    assert list(map(fields, prefetched_result.history)) == list(map(fields, plain_result.history))
    assert prefetched_result.test_accuracy == plain_result.test_accuracy


def test_a_checkpoint_records_the_generator_before_the_batch_in_the_making(catalog, small_mnist, request):
    """Taken mid-epoch, between steps and at an interrupt, as without prefetching: the thread has drawn ahead."""
    entry = load_entry(AUGMENTED, catalog, ["train.steps=30"])

    def checkpoints():
        saved = []
        steps = iter(range(10**6))
        with pytest.raises(Interrupted):
            train(entry, small_mnist, catalog, checkpoint_every=7, on_checkpoint=saved.append,
                  should_stop=lambda: next(steps) >= 23)  # fmt: skip
        return [(c.step, c.rngs["augment"]) for c in saved]

    prefetched = checkpoints()
    request.getfixturevalue("unprefetched")
    assert prefetched == checkpoints()
    assert [step for step, _ in prefetched] == [7, 14, 21, 23]


@pytest.mark.parametrize("error", [ValueError, ZooError])
@pytest.mark.parametrize("fail_at", [1, 4])
def test_an_augmenter_error_surfaces_as_without_prefetch_and_the_thread_ends(error, fail_at, small_mnist, request):
    catalog = with_reusing(fail_at=fail_at, error=error)
    entry = load_entry(AUGMENTED, catalog, ["train.steps=10", "augment.0.type=reusing"])
    with pytest.raises(error) as prefetched:
        train(entry, small_mnist, catalog)
    assert not prefetch_threads()
    request.getfixturevalue("unprefetched")
    with pytest.raises(error) as plain:
        train(entry, small_mnist, catalog)
    assert str(prefetched.value) == str(plain.value) == f"reusing: cannot augment batch {fail_at}"


def test_an_error_drawing_the_next_index_is_raised_where_the_loop_would_draw_it(small_mnist):
    def indices():
        yield slice(0, 8)
        raise RuntimeError("no more batches")

    maker = BatchMaker(small_mnist.train_images, np.float32, [Reusing()], np.random.default_rng(0))
    with batch_feed(maker, small_mnist.train_labels, indices(), 3) as feed:
        feed.take()  # the first batch arrives; drawing the second failed meanwhile
        with pytest.raises(RuntimeError, match="no more batches"):
            feed.take()
    assert not prefetch_threads()


@pytest.mark.parametrize("feed_type", [Batches, PrefetchedBatches])
@pytest.mark.parametrize("past", [(0,), (-10, -5, 2), (-2 - 2 * 5000,)], ids=["one", "several", "negative"])
def test_a_batch_index_outside_the_samples_is_one_plugin_error_naming_the_batch_order(feed_type, past, small_mnist):
    """Unprefetched or prefetched, one sample or several (which np.take would wrap for the images): not an
    IndexError's traceback, and not a batch of other images. ``past``: each index minus the sample count."""
    n = len(small_mnist.train_labels)
    index = np.array(past) + n
    maker = BatchMaker(small_mnist.train_images, np.float32, [Reusing()], np.random.default_rng(0))
    with feed_type(maker, small_mnist.train_labels, iter([slice(0, 8), index]), 2, "x.toml: batches (odd)") as feed:
        feed.take()
        with pytest.raises(ZooError, match=rf"^x.toml: batches \(odd\) gave the batch index -?\d+, outside 0..{n - 1}"):
            feed.take()
    assert not prefetch_threads()


def test_the_thread_is_joined_however_training_ends(catalog, small_mnist):
    entry = lambda *overrides: load_entry(AUGMENTED, catalog, ["train.steps=12", *overrides])  # noqa: E731
    train(entry(), small_mnist, catalog)
    assert not prefetch_threads()
    stopping = ["train.log_every=1", "train.early_stopping.patience=1", "optimizer.lr=1e-30"]
    assert train(entry(*stopping), small_mnist, catalog)[1].ended == "early stopping"
    assert not prefetch_threads()
    with pytest.raises(Interrupted):  # Ctrl-C, the first time
        train(entry(), small_mnist, catalog, should_stop=lambda: True)
    assert not prefetch_threads()

    def second_ctrl_c(step, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(entry(), small_mnist, catalog, on_step=second_ctrl_c)
    assert not prefetch_threads()
    with pytest.raises(DivergenceError):
        train(entry("optimizer.lr=1e30"), small_mnist, catalog)
    assert not prefetch_threads()


def test_the_feed_makes_no_batch_past_the_last_step(small_mnist):
    augment = Reusing()
    maker = BatchMaker(small_mnist.train_images, np.float32, [augment], np.random.default_rng(0))
    with prefetch.batch_feed(maker, small_mnist.train_labels, iter([slice(0, 8)] * 10), 3) as feed:
        for _ in range(3):
            feed.take()
        with pytest.raises(RuntimeError, match="every batch of the feed has been taken"):
            feed.take()
    assert augment.calls == 3
