"""The training hot path allocates nothing batch-sized once its buffers exist."""

import tracemalloc
from pathlib import Path

import pytest

from zoo import prefetch
from zoo.entries import load_entry
from zoo.training import train

MLPS = [
    "seed-004-online-sgd",
    "seed-003-minibatch-per-layer-lr",
    "tuned-784-512-10-dropout",
    "tuned-784-100-200-200-10-dropout-augment",
    "best-784-800-800-10-elastic",
]
CNNS = ["lenet-5", str(Path(__file__).parent / "data" / "small-cnn-every-layer.toml")]
MLP_SIZES, CNN_SIZES = (1024, 4096), (1024, 2048)
"""Batch sizes past those where NumPy's iteration buffers stop growing (8192 values per operand, reached by the
narrowest layer, 10 units, at 820 rows); a CNN's activations are larger per row, so its batches are smaller."""


@pytest.fixture(autouse=True)
def in_the_loop(monkeypatch):
    """Batches made in the loop, whatever BLAS threads the environment asks for (another test's may linger)."""
    monkeypatch.setattr(prefetch, "core_to_spare", lambda: False)


def peak_after_warm_up(name, batch_size, catalog, splits):
    """Bytes allocated at the peak between step 5 and step 12 (no logging, no evaluation in between)."""
    overrides = ["train.steps=12", "train.log_every=1000000", f"batches.size={batch_size}"]
    peaks = []

    def on_step(step, total):
        if step == 5:
            tracemalloc.start()
        elif step == total:
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()

    train(load_entry(name, catalog, overrides), splits, catalog, on_step=on_step)
    return peaks[0]


@pytest.mark.parametrize("name, sizes", [(n, MLP_SIZES) for n in MLPS] + [(n, CNN_SIZES) for n in CNNS])
def test_steps_allocate_nothing_that_grows_with_the_batch(name, sizes, catalog, small_mnist):
    """4x the batch may add a few bytes per row of bookkeeping (labels, predictions), never an activation.

    What is allowed at any size is bounded: NumPy's own iteration buffers (at most
    ``np.getbufsize()`` elements per operand) and small Python objects.
    """
    SMALL, LARGE = sizes
    small = peak_after_warm_up(name, SMALL, catalog, small_mnist)
    large = peak_after_warm_up(name, LARGE, catalog, small_mnist)
    # One float32 activation of 10 units would already add 40 bytes a row; the smallest layer here has 10.
    assert large - small < 32 * (LARGE - SMALL), f"{name}: {small} bytes at batch {SMALL}, {large} at {LARGE}"
    assert small < 512 * 1024, f"{name}: {small} bytes allocated per step at batch {SMALL}"


def test_prefetched_steps_allocate_nothing_that_grows_with_the_batch(catalog, small_mnist, monkeypatch):
    """Made a step ahead in a thread, which tracemalloc sees too, augmented batches still allocate no activation."""
    monkeypatch.setattr(prefetch, "core_to_spare", lambda: True)
    SMALL, LARGE = MLP_SIZES
    small = peak_after_warm_up("best-784-800-800-10-elastic", SMALL, catalog, small_mnist)
    large = peak_after_warm_up("best-784-800-800-10-elastic", LARGE, catalog, small_mnist)
    assert large - small < 32 * (LARGE - SMALL), f"{small} bytes at batch {SMALL}, {large} at {LARGE}"
