"""LeNet-5 rows for ``throughput.py``: the network as a zoo layer table and as PyTorch modules, one measurement of each.

LeCun 1998's layout with ReLU and max-pooling, on (1, 28, 28) MNIST images:
conv 5×5×6 ("same") → ReLU → max-pool 2×2 → conv 5×5×16 (valid) → ReLU → max-pool 2×2 →
flatten (400) → dense 120 → ReLU → dense 84 → ReLU → dense 10, softmax cross-entropy,
plain SGD, float32. Both sides train on the same images in the same order and the same
batches: PyTorch indexes the shared permutation, zoo reads the training images permuted by
it in sequence. Only the training loop is timed (zoo's ``train_seconds``). This module holds
only what is LeNet-5's own (the two networks, one measurement in the process ``throughput.py
--measure`` starts, issue 11's goals); the processes, turns and tables are ``throughput.py``'s:
run ``throughput.py --networks lenet-5``.
"""

import os
import time

import numpy as np
from torch_loop import train_and_evaluate

NETWORK = "lenet-5"  # the row's name, and the registry entry whose peak RSS ``--rss lenet-5`` measures
LR = 0.05
GOALS = {128: 1.5, 32: 1.0}  # issue 11: zoo's epoch takes at most this many times PyTorch's, per batch size
RSS_GOAL_MB = 600  # issue 11: peak RSS of `zoo train lenet-5`

LAYERS = [
    {"type": "conv2d", "filters": 6, "kernel": 5, "padding": "same"},
    {"type": "relu"},
    {"type": "maxpool2d", "size": 2},
    {"type": "conv2d", "filters": 16, "kernel": 5, "padding": "valid"},
    {"type": "relu"},
    {"type": "maxpool2d", "size": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 120},
    {"type": "relu"},
    {"type": "dense", "units": 84},
    {"type": "relu"},
    {"type": "dense", "units": 10},
]


def torch_network():
    """``LAYERS`` as ``nn.Sequential``, layer for layer."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding="same"),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    )


def flops_per_sample() -> int:
    """Multiply-adds x2 of one training step's GEMMs per sample, convolutions as im2col: forward,
    weight gradients and input gradients (not for the first layer)."""
    # conv: output positions x (channels x 5 x 5) x filters; dense: inputs x outputs
    products = [28 * 28 * (1 * 25) * 6, 10 * 10 * (6 * 25) * 16, 400 * 120, 120 * 84, 84 * 10]
    return 2 * (3 * sum(products) - products[0])


def channels_first(images: np.ndarray) -> np.ndarray:
    """uint8 images ``(N, H, W)`` or ``(N, 1, H, W)`` as float32 ``(N, 1, H, W)`` in [0, 1]."""
    return images.reshape(len(images), 1, *images.shape[-2:]).astype(np.float32) / np.float32(255)


def measure_zoo(batch, images, data, order):
    """zoo's own training loop (``zoo.training.train``) on the entry ``LAYERS`` makes: seconds, CPU seconds,
    evaluation seconds on the test set, test accuracy."""
    from zoo.config import ModelEntry
    from zoo.evaluate import predict
    from zoo.loading import default_catalog
    from zoo.splits import Splits
    from zoo.training import train

    catalog = default_catalog()
    steps = -(-images // batch)
    table = {
        "layers": LAYERS,
        "loss": {"type": "softmax_cross_entropy"},
        "optimizer": {"type": "sgd", "lr": LR},
        # The images below are already in PyTorch's shuffled order: read in sequence, they make its batches.
        "batches": {"type": "sequential", "size": batch},
        "train": {"steps": steps, "log_every": steps, "dtype": "float32"},
    }
    entry = ModelEntry.from_table(NETWORK, table, __file__, catalog)
    index = order[:images]
    empty = data.train_images[:0], data.train_labels[:0]
    splits = Splits(
        data.train_images[index], data.train_labels[index], *empty, data.test_images, data.test_labels, data.classes
    )
    cpu = [time.process_time()]
    network, result = train(entry, splits, catalog, on_log=lambda record: cpu.append(time.process_time()), test=False)
    started = time.perf_counter()
    predictions = predict(network, data.test_images)
    seconds = time.perf_counter() - started
    return result.train_seconds, cpu[1] - cpu[0], seconds, float(np.mean(predictions == data.test_labels))


def measure_torch(batch, images, data, order):
    """``torch_network()`` with ``torch.optim.SGD``, fed the same batches: as :func:`measure_zoo`."""
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    torch.manual_seed(0)
    model = torch_network()
    x_train, x_test = channels_first(data.train_images), channels_first(data.test_images)
    return train_and_evaluate(model, x_train, data.train_labels, x_test, data.test_labels, order, batch, images, LR)


MEASURES = {"zoo": measure_zoo, "torch": measure_torch}


def print_goals(ratios: dict[int, float | None]) -> None:
    """Issue 11's speed goals against zoo's training time over PyTorch's, per batch size (None: not measured)."""
    measured = {batch: ratio for batch, ratio in ratios.items() if ratio}
    if measured:
        print(f"\n{NETWORK}, issue 11's goal: zoo's epoch in at most the given multiple of PyTorch's time")
    for batch, ratio in measured.items():
        print(f"  batch {batch}: {ratio:.2f}x (goal {GOALS[batch]}x): {'met' if ratio <= GOALS[batch] else 'not met'}")


def rss_goal(entry: str, mib: float) -> str:
    """Issue 11's peak-RSS goal for the ``lenet-5`` entry, met or not; empty for other entries."""
    if entry != NETWORK:
        return ""
    return f"{RSS_GOAL_MB} MB: {'met' if mib * 2**20 <= RSS_GOAL_MB * 1e6 else 'not met'}"
