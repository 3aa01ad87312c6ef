"""Shared fixtures: the real MNIST (from $ZOO_DATA, else ../shared/data) and small slices of it."""

import os
from pathlib import Path

import numpy as np
import pytest

from zoo.loading import default_catalog
from zoo.splits import Splits

collect_ignore = ["fixtures"]  # packages the tests install, with test suites of their own

DATA = Path(os.environ.get("ZOO_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def catalog():
    return default_catalog()


@pytest.fixture(scope="session")
def mnist(catalog):
    """The full real MNIST as stored (uint8)."""
    if not (DATA / "mnist").is_dir():
        pytest.skip(f"real MNIST not found under {DATA}; set ZOO_DATA")
    return catalog.get("dataset", "mnist").factory(data_dir=DATA)


@pytest.fixture(scope="session")
def small_mnist(mnist):
    """6000 training images (the last 1000 of them for validation) and 2000 test images."""
    return Splits(
        mnist.train_images[:5000],
        mnist.train_labels[:5000],
        mnist.train_images[5000:6000],
        mnist.train_labels[5000:6000],
        mnist.test_images[:2000],
        mnist.test_labels[:2000],
        mnist.classes,
    )


@pytest.fixture(autouse=True)
def runs_env(monkeypatch, tmp_path):
    """Every test keeps its run directories in its own temporary directory, never in the working tree."""
    monkeypatch.setenv("ZOO_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


@pytest.fixture
def data_env(monkeypatch):
    """Point the loader at the real data through $ZOO_DATA, as CI does."""
    monkeypatch.setenv("ZOO_DATA", str(DATA))
    return DATA


def assert_same_arrays(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name], b[name]), name
