"""``check_dataset``: a dataset declares what it loads, loads what the contract asks, and loads it the same twice."""

import os
import warnings

import numpy as np

from zoo.catalog import Catalog
from zoo.config import PluginRef
from zoo.data import PARTS, check_data_dir
from zoo.datasets import contract_problem, dataset_info
from zoo.errors import ZooError, one_line
from zoo.loading import default_catalog
from zoo.testing.core import Subject


def check_dataset(name: str, *, catalog: Catalog | None = None, data_dir: str | os.PathLike | None = None) -> None:
    """Load dataset ``name`` twice (from ``data_dir``, an existing directory, if given); raise ConformanceError
    on the first failure.

    - Loading raises nothing but a :class:`zoo.errors.ZooError`; a missing file is
      :class:`zoo.data.DatasetNotFound` (a ZooError, which is re-raised: the data is missing,
      the plugin is not broken), never ``FileNotFoundError`` or another exception.
    - What it returns keeps the dataset contract (:func:`zoo.datasets.contract_problem`): an
      ImageData of uint8 images ``(N, H, W)`` or ``(N, C, H, W)``, integer labels ``(N,)`` inside
      the classes, as many as images, train and test alike, and the shape and classes it
      declares, if it is a :class:`zoo.datasets.Dataset`. A dataset that declares nothing
      (contract 1) passes with a warning: zoo cannot check entries against it before loading.
    - Two loads give equal arrays and classes.
    """
    catalog = default_catalog() if catalog is None else catalog
    record = catalog.get("dataset", name, "zoo.testing")
    subject = Subject(record, {}, PluginRef("dataset", name, {}, "zoo.testing"), catalog)
    if data_dir is not None:
        data_dir = check_data_dir(data_dir)
    declared = dataset_info(catalog, name)
    if declared is None:
        warnings.warn(
            f"dataset {name!r} (plugin {record.plugin!r}) declares no shape or classes: register a "
            "zoo.datasets.Dataset so zoo can check entries against it before loading any data",
            stacklevel=2,
        )
    first = _load(subject, data_dir)
    wrong = contract_problem(first, declared)
    if wrong:
        raise subject.fail("the dataset contract", wrong)
    second = _load(subject, data_dir)
    for part in PARTS:
        a, b = getattr(first, part), getattr(second, part)
        if a.shape != b.shape or not np.array_equal(a, b):
            raise subject.fail("determinism", f"two loads gave different {part} ({a.shape} and {b.shape})")
    if tuple(first.classes) != tuple(second.classes):
        raise subject.fail("determinism", f"two loads gave different classes: {first.classes!r}, {second.classes!r}")


def _load(subject: Subject, data_dir):
    """What the plugin's factory returns; an exception that is not a ZooError fails the check."""
    try:
        return subject.record.factory(data_dir=data_dir)
    except ZooError:
        raise
    except Exception as error:
        raise subject.fail(
            "loading",
            f"it raised {type(error).__name__}: {one_line(error)}; raise zoo.data.DatasetNotFound for missing "
            "files (or another zoo.errors.DataError), which zoo prints as one line",
        ) from error
