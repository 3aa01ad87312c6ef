"""A trained or untrained network with its entry, for Python users: predict, evaluate, save, show in a notebook.

Every image array a user passes is checked here, at the boundary: its dtype and values decide
the scaling (uint8 is divided by 255; floats must already lie in [0, 1]), its shape must be one
the network takes, and everything returned is a fresh array, never one of the network's buffers.
"""

import math
import os
from typing import Any

import attrs
import numpy as np

from zoo import modelfile
from zoo.blas_pool import numpy_blas_single_threaded_for
from zoo.catalog import Catalog
from zoo.config import ModelEntry
from zoo.errors import DataError
from zoo.evaluate import chunk_size, confusion_matrix, loss_name
from zoo.network import Network
from zoo.probabilities import probabilities_of
from zoo.summary import layer_table
from zoo.test_time import averaged_probabilities
from zoo.view import model_html, model_text


@attrs.frozen
class Evaluation:
    """Accuracy, mean loss and the confusion matrix (``[true, predicted]`` counts) on ``images`` images."""

    accuracy: float
    loss: float
    images: int
    confusion_matrix: np.ndarray = attrs.field(eq=False, repr=False)

    def __float__(self) -> float:
        return self.accuracy


@attrs.define(eq=False)
class Model:
    """A network built from a registry entry: untrained (``zoo.create``), trained (``zoo.train``) or loaded.

    ``meta`` holds what was recorded when it was trained (test and validation accuracy, seed,
    seconds, zoo version, date, the recipe hash); ``history`` the metrics of every log point.
    """

    network: Network = attrs.field(repr=False)
    entry: ModelEntry = attrs.field(repr=False)
    classes: tuple[str, ...]
    meta: dict[str, Any] = attrs.field(factory=dict, repr=False)
    catalog: Catalog | None = attrs.field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def in_shape(self) -> tuple[int, ...]:
        """One sample's shape as the network takes it, e.g. ``(1, 28, 28)``."""
        return self.network.in_shape

    @property
    def history(self) -> list[dict[str, Any]]:
        """Per log point: epoch, step, loss, train_accuracy, val_loss, val_accuracy, seconds (as in metrics.jsonl)."""
        return [dict(record) for record in self.meta.get("history", [])]

    @property
    def trained(self) -> bool:
        return "test_accuracy" in self.meta

    @property
    def params(self) -> int:
        return sum(p.value.size for p in self.network.params)

    def layers(self) -> list[dict[str, Any]]:
        """The layer table ``zoo show`` prints: type, output shape, parameters, multiply-adds, own lr."""
        return layer_table(self.network, self.entry)

    def predict(self, images) -> np.ndarray:
        """The predicted class number ``(N,)`` of each image (see :meth:`predict_proba` for what images may be)."""
        if self.entry.test_time.shifts:
            return np.argmax(self.predict_proba(images), axis=1)
        return np.argmax(self._outputs(images), axis=1)

    def predict_proba(self, images) -> np.ndarray:
        """Class probabilities ``(N, classes)``, a new array.

        ``images``: uint8 in 0-255 or floats in [0, 1], of shape ``(N, H, W)`` or ``(N, C, H, W)``
        (or ``(N, features)`` for a network on flat input); anything else is a DataError.
        With the entry's ``[test_time]`` shifts, the mean over each image and its shifted views.
        """
        if self.entry.test_time.shifts:
            return self._averaged(images)
        return probabilities_of(self.network.loss, self._outputs(images), loss_name(self.entry))

    def evaluate(self, images=None, labels=None, *, data_dir: str | os.PathLike | None = None) -> Evaluation:
        """Accuracy and loss on the entry's test set, or on ``images`` and ``labels`` given together.

        With the entry's ``[test_time]`` shifts, accuracy and confusion matrix count the averaged predictions;
        the loss is the network's own, on the images alone.
        """
        if (images is None) != (labels is None):
            raise DataError("evaluate() takes images and labels together, or neither (then the test set is used)")
        if images is None:
            from zoo.training import load_data  # the dataset only when asked for

            data = load_data(self.entry, self._catalog(), data_dir)
            images, labels = data.test_images, data.test_labels
        outputs = self._outputs(images)
        labels = self._labels(labels, len(outputs))
        loss = self.network.loss.forward(outputs, labels) if len(labels) else math.nan
        predicted = np.argmax(self._averaged(images) if self.entry.test_time.shifts else outputs, axis=1)
        accuracy = float(np.mean(predicted == labels)) if len(labels) else math.nan
        matrix = confusion_matrix(labels, predicted, len(self.classes))
        return Evaluation(accuracy, float(loss), len(labels), matrix)

    def save(self, path: str | os.PathLike) -> os.PathLike:
        """Write a model file (the format ``zoo train --out`` writes; ``zoo.load`` and ``zoo evaluate`` read it)."""
        return modelfile.save(path, self.network, self.entry, meta=self.meta)

    def export_onnx(self, path: str | os.PathLike) -> os.PathLike:
        """Write the network as an ONNX file (``zoo export``; needs ``pip install 'numpy-zoo[onnx]'``):
        float32 ``images`` in [0, 1] in, ``probabilities`` out."""
        from zoo import onnx_export  # onnx only when exporting

        return onnx_export.export(self.network, self.entry, path, list(self.classes))

    def __repr__(self) -> str:
        return model_text(self)

    def _repr_html_(self) -> str:
        return model_html(self)

    def _catalog(self) -> Catalog:
        from zoo.session import catalog

        return self.catalog or catalog()

    def _outputs(self, images) -> np.ndarray:
        """The network's outputs on checked, scaled ``images``, in chunks, copied out of its buffers."""
        return self._in_chunks(images, self.network.dtype, lambda batch: self.network.forward(batch, training=False))

    def _averaged(self, images) -> np.ndarray:
        """Class probabilities averaged over the entry's test-time shifts, in chunks."""
        shifts, loss = self.entry.test_time.shifts, loss_name(self.entry)
        return self._in_chunks(
            images, np.float64, lambda batch: averaged_probabilities(self.network, batch, shifts, loss)
        )

    def _in_chunks(self, images, dtype, compute) -> np.ndarray:
        """``compute(batch)`` ``(B, classes)`` for each chunk of the checked images scaled to [0, 1], into one array."""
        images = self._checked_images(images)
        chunk = chunk_size(self.network)
        results = np.empty((len(images), self.network.shapes[-1][0]), dtype=dtype)
        scale = 1 / 255 if images.dtype == np.uint8 else 1
        with numpy_blas_single_threaded_for(self.network):
            for start in range(0, len(images), chunk):
                batch = np.asarray(images[start : start + chunk], dtype=self.network.dtype) * scale
                results[start : start + len(batch)] = compute(batch)
        return results

    def _checked_images(self, images) -> np.ndarray:
        images = np.asarray(images)
        accepted = self._accepted_shapes()
        if images.ndim < 2 or images.shape[1:] not in accepted and not self._flat_fit(images):
            expected = " or ".join("(N, " + ", ".join(map(str, shape)) + ")" for shape in accepted)
            single = " (one image? pass images[None])" if images.shape in accepted else ""
            raise DataError(f"images of shape {images.shape} do not fit {self.name}, which takes {expected}{single}")
        if images.dtype == np.uint8:
            return images
        if images.dtype.kind != "f":
            raise DataError(
                f"images are {images.dtype}: give uint8 in 0-255 or floats in [0, 1] "
                "(e.g. images.astype(np.uint8) for integer pixel values)"
            )
        if images.size:
            low, high = float(np.min(images)), float(np.max(images))
            if not (math.isfinite(low) and math.isfinite(high)):
                raise DataError("images hold NaN or infinite values")
            if low < 0 or high > 1:
                hint = " (0-255 values? divide by 255 or pass uint8)" if high > 1 else ""
                raise DataError(f"float images must lie in [0, 1], but these range from {low:g} to {high:g}{hint}")
        return images

    def _accepted_shapes(self) -> list[tuple[int, ...]]:
        shape = self.in_shape
        return [shape, shape[1:]] if len(shape) == 3 and shape[0] == 1 else [shape]

    def _flat_fit(self, images: np.ndarray) -> bool:
        """A network on flat input (a zoo 0.1 file) takes images of any shape with as many pixels."""
        return len(self.in_shape) == 1 and math.prod(images.shape[1:]) == self.in_shape[0]

    def _labels(self, labels, count: int) -> np.ndarray:
        labels = np.asarray(labels)
        if labels.shape != (count,):
            raise DataError(f"labels of shape {labels.shape} do not match {count} images: give one label per image")
        if labels.dtype.kind not in "iu":
            raise DataError(f"labels are {labels.dtype}; labels are integer class numbers")
        if count and (labels.min() < 0 or labels.max() >= len(self.classes)):
            raise DataError(f"labels must lie in 0..{len(self.classes) - 1} ({len(self.classes)} classes)")
        return labels.astype(np.intp)
