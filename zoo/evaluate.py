"""Evaluating a network on uint8 images, in chunks so memory stays flat."""

import numpy as np

from zoo.batching import BatchMaker
from zoo.network import Network

CHUNK = 2000


def predict(network: Network, images: np.ndarray, maker: BatchMaker | None = None, chunk: int = CHUNK) -> np.ndarray:
    """Predicted class ``(N,)`` for uint8 images ``(N, H, W)``.

    Pass the ``maker`` of an earlier call on the same images to reuse its chunk buffer.
    """
    maker = maker or BatchMaker(images, network.dtype)
    predictions = np.empty(len(images), dtype=np.intp)
    for start in range(0, len(images), chunk):
        stop = min(start + chunk, len(images))
        output = network.forward(maker.make(slice(start, stop)), training=False)
        np.argmax(output, axis=1, out=predictions[start:stop])
    return predictions


def accuracy(network: Network, images: np.ndarray, labels: np.ndarray, maker: BatchMaker | None = None) -> float:
    """Fraction of ``images`` classified as ``labels`` (``maker`` as for :func:`predict`)."""
    return float(np.mean(predict(network, images, maker) == labels))


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """``matrix[true, predicted]`` counts."""
    flat = labels.astype(np.intp) * n_classes + predictions
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
