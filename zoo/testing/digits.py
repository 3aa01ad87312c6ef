"""Digit images for the augmenter check, and the simple classifier that decides whether a label survived.

The images are real MNIST test digits when a data directory has them (``$ZOO_DATA`` and the
other places :func:`zoo.data.candidate_dirs` lists; never downloaded), else the kit's synthetic
digits (:mod:`zoo.testing.synthetic`). The classifier is k-nearest-neighbours
(cosine similarity) on features that ignore where the digit sits and blur away the exact
stroke position: each image is moved so its centre of mass is at the centre, blurred and
pooled to 14x14. Shifts therefore never change its answer and small rotations or warps
rarely do, while a digit turned upside down, mirrored or swapped with another image does.
"""

import functools
import os

import attrs
import numpy as np
from scipy import ndimage

from zoo.data import candidate_dirs, read_idx
from zoo.errors import ConfigError, DataError
from zoo.testing.synthetic import COUNT, Digits, synthetic_digits

EVALUATED = 1000
"""Images augmented and classified by the check; the other ``COUNT - EVALUATED`` are the classifier's references."""


@attrs.frozen(eq=False)
class Classifier:
    """Cosine 3-nearest-neighbours over the features of labelled reference images."""

    features: np.ndarray
    labels: np.ndarray

    @classmethod
    def fit(cls, images: np.ndarray, labels: np.ndarray) -> "Classifier":
        return cls(features(images), np.asarray(labels))

    def predict(self, images: np.ndarray) -> np.ndarray:
        """The majority class of the three most similar references; the nearest one's class when all differ."""
        similarity = features(images) @ self.features.T
        rows = np.arange(len(images))
        nearest = []
        for _ in range(3):
            best = similarity.argmax(axis=1)
            nearest.append(self.labels[best])
            similarity[rows, best] = -np.inf
        first, second, third = nearest
        return np.where((second == third) & (first != second), second, first)


@functools.cache
def classifier(digits: Digits) -> Classifier:
    """A classifier fitted on the reference images of ``digits`` (all but the first ``EVALUATED``), made once."""
    return Classifier.fit(digits.images[EVALUATED:], digits.labels[EVALUATED:])


@functools.cache
def recognised(digits: Digits) -> np.ndarray:
    """Which of the first ``EVALUATED`` images of ``digits`` the classifier gets right, as they are."""
    return classifier(digits).predict(digits.images[:EVALUATED]) == digits.labels[:EVALUATED]


def features(images: np.ndarray) -> np.ndarray:
    """``(N, 196)`` float32 unit vectors: each image centred on its centre of mass, blurred, pooled 2x2."""
    centred = ndimage.gaussian_filter(centre(np.asarray(images, dtype=np.float64)), (0, 1.0, 1.0))
    n, height, width = centred.shape
    pooled = centred.reshape(n, height // 2, 2, width // 2, 2).mean(axis=(2, 4)).reshape(n, -1)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def centre(images: np.ndarray) -> np.ndarray:
    """Each image ``(N, H, W)`` moved by whole pixels (zeros coming in) so its centre of mass is nearest the centre."""
    n, height, width = images.shape
    ink = np.maximum(images.sum(axis=(1, 2)), 1e-12)
    rows = images.sum(axis=2) @ np.arange(height) / ink - (height - 1) / 2
    cols = images.sum(axis=1) @ np.arange(width) / ink - (width - 1) / 2
    rows = np.arange(height)[None, :, None] + np.rint(rows).astype(np.intp)[:, None, None]
    cols = np.arange(width)[None, None, :] + np.rint(cols).astype(np.intp)[:, None, None]
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    moved = images[np.arange(n)[:, None, None], np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1)]
    return moved * inside


def digits(kind: str = "auto") -> Digits:
    """``COUNT`` digits: ``"mnist"`` (real, found on disk), ``"synthetic"``, or ``"auto"`` (either)."""
    if kind not in ("auto", "mnist", "synthetic"):
        raise ConfigError(f"zoo.testing: digits must be 'auto', 'mnist' or 'synthetic', got {kind!r}")
    if kind != "synthetic":
        found = _mnist()
        if found is not None:
            return found
        if kind == "mnist":
            raise DataError(
                "zoo.testing: MNIST test files not found in "
                + ", ".join(map(str, candidate_dirs("mnist")))
                + "; set ZOO_DATA, or check augmenters on synthetic digits"
            )
    return synthetic_digits()


@functools.cache
def _mnist_at(images_path: str, labels_path: str) -> Digits:
    from zoo_builtins.datasets import MNIST_FILES  # the built-in dataset's checksums

    images = read_idx(images_path, MNIST_FILES["test_images"].sha256)[:COUNT]
    labels = read_idx(labels_path, MNIST_FILES["test_labels"].sha256)[:COUNT]
    return Digits(
        (images / np.float32(255)).astype(np.float32), labels.astype(np.intp), f"MNIST test digits ({images_path})"
    )


def _mnist() -> Digits | None:
    """The first MNIST test images and labels found on disk (checksums verified), or None."""
    for directory in candidate_dirs("mnist"):
        paths = []
        for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
            found = [p for p in (directory / f"{stem}.gz", directory / stem) if os.path.isfile(p)]
            paths.append(found[0] if found else None)
        if all(paths):
            try:
                return _mnist_at(str(paths[0]), str(paths[1]))
            except DataError:
                continue  # e.g. Fashion-MNIST under the same file names: try the next place
    return None
