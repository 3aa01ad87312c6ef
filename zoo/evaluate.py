"""Evaluating a network on uint8 images, in chunks so memory stays flat."""

import math

import numpy as np

from zoo.batching import BatchMaker
from zoo.blas_pool import numpy_blas_single_threaded_for
from zoo.config import ModelEntry
from zoo.network import Network
from zoo.test_time import averaged_probabilities

CHUNK = 2000
"""Most images evaluated at once."""
ACTIVATION_BUDGET = 1 << 21
"""Values the largest activation of a chunk may hold: a convolutional network evaluates in smaller chunks."""


def chunk_size(network: Network) -> int:
    """Images per evaluation chunk: :data:`CHUNK`, fewer where one sample's largest activation is big."""
    largest = max(math.prod(shape) for shape in network.shapes)
    return max(1, min(CHUNK, ACTIVATION_BUDGET // largest))


def predict(
    network: Network,
    images: np.ndarray,
    maker: BatchMaker | None = None,
    chunk: int | None = None,
    entry: ModelEntry | None = None,
) -> np.ndarray:
    """Predicted class ``(N,)`` for uint8 images ``(N, H, W)``: as ``entry`` predicts, averaged over its
    ``[test_time]`` shifts if it has them; from each image alone without an entry.

    Pass the ``maker`` of an earlier call on the same images to reuse its chunk buffer.
    """
    maker = maker or BatchMaker(images, network.dtype)
    chunk = chunk or chunk_size(network)
    predictions = np.empty(len(images), dtype=np.intp)
    shifts = entry.test_time.shifts if entry is not None else 0
    with numpy_blas_single_threaded_for(network):  # as in training: 17-28 % faster for lenet-5 and the best CNN
        for start in range(0, len(images), chunk):
            stop = min(start + chunk, len(images))
            batch = maker.make(slice(start, stop))
            if shifts:
                output = averaged_probabilities(network, batch, shifts, loss_name(entry))
            else:
                output = network.forward(batch, training=False)
            np.argmax(output, axis=1, out=predictions[start:stop])
    return predictions


def loss_name(entry: ModelEntry) -> str:
    """How errors about the loss's probabilities name it: ``registry/x.toml: loss 'softmax_cross_entropy'``."""
    return f"{entry.source}: loss {entry.loss.type!r}"


def evaluate(
    network: Network,
    images: np.ndarray,
    labels: np.ndarray,
    maker: BatchMaker | None = None,
    chunk: int | None = None,
) -> tuple[float, float]:
    """Mean loss (the network's own loss) and accuracy on ``images``, in chunks (``maker`` as for :func:`predict`)."""
    maker = maker or BatchMaker(images, network.dtype)
    chunk = chunk or chunk_size(network)
    loss_sum, correct = 0.0, 0
    with numpy_blas_single_threaded_for(network):
        for start in range(0, len(images), chunk):
            stop = min(start + chunk, len(images))
            output = network.forward(maker.make(slice(start, stop)), training=False)
            loss_sum += network.loss.forward(output, labels[start:stop]) * (stop - start)
            correct += int(np.count_nonzero(np.argmax(output, axis=1) == labels[start:stop]))
    return loss_sum / len(images), correct / len(images)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """``matrix[true, predicted]`` counts."""
    flat = labels.astype(np.intp) * n_classes + predictions
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
