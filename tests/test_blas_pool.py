"""SciPy's OpenBLAS runs one thread while zoo trains, NumPy's beside layers with threads of their own; both get
their thread counts back after."""

import pytest

from zoo import blas_pool
from zoo.config import ModelEntry
from zoo.evaluate import evaluate, predict
from zoo.model import Model
from zoo.training import train

pytestmark = pytest.mark.skipif(blas_pool.scipy_blas_threads() is None, reason="SciPy's BLAS is not its own OpenBLAS")

ENTRY = {
    "layers": [{"type": "dense", "units": 16}, {"type": "relu"}, {"type": "dense", "units": 10}],
    "loss": {"type": "softmax_cross_entropy"},
    "optimizer": {"type": "sgd", "lr": 0.05},
    "batches": {"type": "shuffled", "size": 1},
    "train": {"steps": 20, "log_every": 20},
}


@pytest.fixture
def two_scipy_threads():
    get, set_ = blas_pool._controls()
    before = get()
    set_(2)
    yield
    set_(before)


def test_training_runs_scipy_blas_on_one_thread_and_restores_it(two_scipy_threads, catalog, small_mnist):
    seen = []
    entry = ModelEntry.from_table("pool", ENTRY, "test", catalog)
    train(entry, small_mnist, catalog, on_step=lambda step, total: seen.append(blas_pool.scipy_blas_threads()))
    assert seen and set(seen) == {1}
    assert blas_pool.scipy_blas_threads() == 2


def test_the_thread_count_comes_back_when_the_block_raises(two_scipy_threads):
    with pytest.raises(KeyError), blas_pool.scipy_blas_single_threaded():
        assert blas_pool.scipy_blas_threads() == 1
        raise KeyError("stop")
    assert blas_pool.scipy_blas_threads() == 2


def test_overlapping_blocks_restore_the_count_when_the_last_one_leaves(two_scipy_threads):
    first, second = blas_pool.scipy_blas_single_threaded(), blas_pool.scipy_blas_single_threaded()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # as a training in another thread ending first
    assert blas_pool.scipy_blas_threads() == 1
    second.__exit__(None, None, None)
    assert blas_pool.scipy_blas_threads() == 2


@pytest.fixture
def two_numpy_threads():
    if blas_pool.numpy_blas_threads() is None:
        pytest.skip("NumPy's BLAS is not its own OpenBLAS")
    get, set_ = blas_pool._numpy_controls()
    before = get()
    set_(2)
    yield
    set_(before)


def test_numpy_blas_runs_one_thread_only_beside_layers_with_threads_of_their_own(
    two_numpy_threads, catalog, small_mnist, monkeypatch
):
    """A CNN whose conv2d works on two threads holds NumPy's OpenBLAS at one (its idle threads would spin on
    the second core) and gives it back; an MLP, whose products are NumPy's alone to thread, leaves it at two."""
    import zoo_builtins.convolution as convolution

    monkeypatch.setattr(convolution, "compute_threads", lambda: 2)
    cnn = {
        **ENTRY,
        "layers": [{"type": "conv2d", "filters": 2, "kernel": 3}, {"type": "flatten"}, {"type": "dense", "units": 10}],
        "batches": {"type": "shuffled", "size": 8},
    }
    for table, threads in ((cnn, {1}), (ENTRY, {2})):
        seen = []
        entry = ModelEntry.from_table("pool", table, "test", catalog)
        train(entry, small_mnist, catalog, on_step=lambda step, total: seen.append(blas_pool.numpy_blas_threads()))
        assert set(seen) == threads
        assert blas_pool.numpy_blas_threads() == 2


def test_evaluating_a_network_with_threads_of_its_own_holds_numpy_blas_at_one_thread_too(
    two_numpy_threads, catalog, small_mnist, monkeypatch
):
    """predict, evaluate and a zoo.Model's outputs hold it as training does (17-28 % faster on a CNN's test set)."""
    import zoo_builtins.convolution as convolution

    monkeypatch.setattr(convolution, "compute_threads", lambda: 2)
    cnn = {
        **ENTRY,
        "layers": [{"type": "conv2d", "filters": 2, "kernel": 3}, {"type": "flatten"}, {"type": "dense", "units": 10}],
    }
    for table, threads in ((cnn, {1}), (ENTRY, {2})):
        entry = ModelEntry.from_table("pool", table, "test", catalog)
        network, _ = train(entry, small_mnist, catalog, test=False)
        seen, last = [], network.layers[-1]

        class Watched:  # the last layer, noting NumPy's BLAS threads whenever it runs
            def forward(self, x, training):
                seen.append(blas_pool.numpy_blas_threads())
                return last.forward(x, training)

        network.layers[-1] = Watched()
        images, labels = small_mnist.test_images[:50], small_mnist.test_labels[:50]
        predict(network, images)
        evaluate(network, images, labels)
        Model(network, entry, small_mnist.classes).predict(images)
        assert len(seen) >= 3 and set(seen) == threads
        assert blas_pool.numpy_blas_threads() == 2


@pytest.mark.parametrize("threads", [0, 2.0, "2", True])
def test_a_layer_claiming_threads_wrongly_is_one_plugin_error(threads, small_mnist):
    """zoo_threads decides how NumPy's BLAS runs: anything but an int >= 1 is refused when the network is built."""
    import attrs
    from zoo_builtins.layers import ReLU

    import zoo
    import zoo.testing
    from zoo.errors import PluginError

    @attrs.define(eq=False)
    class Threaded(ReLU):
        zoo_threads = threads

    class Plugins:
        @zoo.hookimpl
        def register_layers(self, register):
            register("threaded_relu", Threaded)

    catalog = zoo.testing.catalog_with(Plugins())
    table = {
        **ENTRY,
        "layers": [{"type": "dense", "units": 16}, {"type": "threaded_relu"}, {"type": "dense", "units": 10}],
    }
    entry = ModelEntry.from_table("threads", table, "test", catalog)
    with pytest.raises(
        PluginError, match=r"layers\.1: layer 'threaded_relu' \(plugin .*\): zoo_threads is .*not an int >= 1"
    ):
        train(entry, small_mnist, catalog)
