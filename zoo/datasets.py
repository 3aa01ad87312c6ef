"""Datasets as plugins: what one declares before loading, and the checked way zoo loads one.

A dataset plugin registers, under a name, either of two contracts:

- **contract 2**, a :class:`Dataset`: the per-sample image shape and the class names, known
  without reading a pixel, plus the ``loader`` that reads the pixels;
- **contract 1** (zoo 0.1's), any callable ``factory(data_dir=None) -> ImageData``, whose
  shape and classes are known only once it has loaded.

Both are called the same way, ``factory(data_dir=None)``, so code written for contract 1
keeps working. :func:`load_dataset` calls either and checks what it returns; anything
wrong is one :class:`zoo.errors.DataError` line naming the dataset and its plugin.
"""

import functools
import os
from collections.abc import Callable

import attrs
import numpy as np

from zoo.catalog import Catalog, Record
from zoo.data import DatasetNotFound, ImageData, check_data_dir
from zoo.errors import DataError, ZooError, one_line

__all__ = ["Dataset", "DatasetInfo", "DatasetNotFound", "ImageData", "contract_problem", "dataset_info", "load_dataset"]

Loader = Callable[..., ImageData]
"""``loader(data_dir=None) -> ImageData``: ``data_dir`` None means "search where you usually do"."""


def _shape(instance, attribute, value: tuple) -> None:
    if len(value) != 3 or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in value):
        raise ValueError(f"a dataset's shape is (channels, height, width), three positive integers, not {value!r}")


def _classes(instance, attribute, value: tuple) -> None:
    if not value or not all(isinstance(name, str) for name in value):
        raise ValueError(f"a dataset's classes are one or more names (strings), not {value!r}")


@attrs.frozen
class DatasetInfo:
    """What a dataset holds, known without loading it: one sample's shape ``(C, H, W)`` and the class names."""

    shape: tuple[int, ...] = attrs.field(converter=tuple, validator=_shape)
    classes: tuple[str, ...] = attrs.field(converter=tuple, validator=_classes)


@attrs.frozen
class Dataset:
    """A dataset of contract 2: ``shape`` ``(C, H, W)`` and ``classes`` declared, ``loader`` to read it.

    Calling it, ``dataset(data_dir=None)``, calls ``loader(data_dir=data_dir)``: it is a
    contract-1 factory too. Its images must be ``(N, *shape)``, or ``(N, H, W)`` when ``C`` is 1.
    """

    shape: tuple[int, ...] = attrs.field(converter=tuple, validator=_shape)
    classes: tuple[str, ...] = attrs.field(converter=tuple, validator=_classes)
    loader: Loader = attrs.field(validator=attrs.validators.is_callable())

    @property
    def info(self) -> DatasetInfo:
        return DatasetInfo(self.shape, self.classes)

    def __call__(self, data_dir: str | os.PathLike | None = None) -> ImageData:
        return self.loader(data_dir=data_dir)

    def derive(
        self,
        transform: Callable[[ImageData], ImageData],
        *,
        shape: tuple[int, ...] | None = None,
        classes: tuple[str, ...] | None = None,
    ) -> "Dataset":
        """A new dataset that loads this one and returns ``transform(data)``: a subset, a relabelling, ...

        ``shape`` and ``classes`` default to this dataset's; give them when ``transform`` changes them.
        """
        return Dataset(
            self.shape if shape is None else shape,
            self.classes if classes is None else classes,
            functools.partial(_derived, self, transform),
        )


def _derived(base: Dataset, transform: Callable[[ImageData], ImageData], data_dir=None) -> ImageData:
    return transform(base(data_dir=data_dir))


def dataset_info(catalog: Catalog, name: str) -> DatasetInfo | None:
    """What dataset ``name`` declares, without loading it; None for a contract-1 dataset, which declares nothing."""
    factory = catalog.get("dataset", name).factory
    return factory.info if isinstance(factory, Dataset) else None


def load_dataset(catalog: Catalog, name: str, data_dir: str | os.PathLike | None = None) -> ImageData:
    """Dataset ``name`` as its plugin loads it from ``data_dir`` (an existing directory, if given), checked:
    see :func:`contract_problem`. Whatever goes wrong is one DataError line naming the dataset and its plugin."""
    record = catalog.get("dataset", name)
    if data_dir is not None:
        data_dir = check_data_dir(data_dir)
    origin = _describe(record)
    try:
        data = record.factory(data_dir=data_dir)
    except DatasetNotFound as error:
        raise DatasetNotFound(f"{origin}: {error}") from None
    except ZooError as error:
        raise DataError(f"{origin}: {error}") from None
    except Exception as error:  # a plugin's bug or an unreported missing file must not be a traceback
        raise DataError(f"{origin} failed to load: {type(error).__name__}: {one_line(error)}") from error
    wrong = contract_problem(data, dataset_info(catalog, name))
    if wrong:
        raise DataError(f"{origin}: {wrong}")
    return data


def _describe(record: Record) -> str:
    """``dataset 'name' (plugin 'p', package q)``: which dataset, from where, for messages."""
    package = f", package {record.package}" if record.package else ""
    return f"dataset {record.name!r} (plugin {record.plugin!r}{package})"


def contract_problem(data: object, declared: DatasetInfo | None) -> str | None:
    """The first way ``data`` breaks the dataset contract, or None.

    The contract: an ImageData; uint8 images ``(N, H, W)`` or ``(N, C, H, W)``, one sample
    the ``declared`` shape if declared (``(N, H, W)`` is ``(N, 1, H, W)``), the same for
    train and test; integer labels ``(N,)``, as many as images, numbering the classes (the
    declared ones, if declared); at least one image in each split. Reads labels, not pixels.
    """
    if not isinstance(data, ImageData):
        return f"returned {type(data).__name__}, not a zoo.data.ImageData"
    classes = tuple(data.classes) if isinstance(data.classes, (tuple, list)) else None
    if not classes or not all(isinstance(c, str) for c in classes):
        return f"classes are {data.classes!r}: one or more class names (strings)"
    if declared is not None and classes != declared.classes:
        return f"classes are {classes!r}, but the dataset declares {declared.classes!r}"
    shapes = {}
    for split in ("train", "test"):
        wrong = _split_problem(split, getattr(data, f"{split}_images"), getattr(data, f"{split}_labels"), classes)
        if wrong:
            return wrong
        shapes[split] = _sample_shape(getattr(data, f"{split}_images"))
    if shapes["train"] != shapes["test"]:
        return f"train images are {shapes['train']} per sample but test images {shapes['test']}: they must agree"
    if declared is not None and shapes["train"] != declared.shape:
        return f"images are {shapes['train']} per sample (channels first), but the dataset declares {declared.shape}"
    return None


def _split_problem(split: str, images: object, labels: object, classes: tuple[str, ...]) -> str | None:
    """What is wrong with one split's images and labels, or None."""
    for part, array in ((f"{split}_images", images), (f"{split}_labels", labels)):
        if not isinstance(array, np.ndarray):
            return f"{part} is a {type(array).__name__}, not a numpy array"
    if images.dtype.kind == "f":
        return (
            f"{split}_images are {images.dtype}; datasets return uint8 images (0-255): "
            "multiply by 255 and convert, zoo scales them itself"
        )
    if images.dtype != np.uint8:
        return f"{split}_images are {images.dtype}; datasets return uint8 images (0-255)"
    if images.ndim not in (3, 4):
        return f"{split}_images have shape {images.shape}; datasets return images (N, H, W) or (N, C, H, W)"
    if labels.ndim != 1:
        return f"{split}_labels have shape {labels.shape}; datasets return labels (N,)"
    if labels.dtype.kind not in "iu":
        return f"{split}_labels are {labels.dtype}; labels are integer class numbers"
    if len(images) != len(labels):
        return f"{len(images)} {split}_images but {len(labels)} {split}_labels: they must agree"
    if not len(labels):
        return f"{split}_images are empty: each split needs at least one image"
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= len(classes):
        bad = low if low < 0 else high
        return f"{split}_labels hold {bad}, outside the {len(classes)} classes (0 to {len(classes) - 1})"
    return None


def _sample_shape(images: np.ndarray) -> tuple[int, ...]:
    """One sample's shape, channels first: ``(N, H, W)`` images are one channel."""
    return (1, *images.shape[1:]) if images.ndim == 3 else tuple(images.shape[1:])
