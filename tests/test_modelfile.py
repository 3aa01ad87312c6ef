"""Model files on good input: a trained model round-trips exactly, with ordinary file permissions.

Damaged, foreign and hostile files, and failed saves, are in test_faults_modelfile.py.
"""

import os
import stat

import numpy as np
import pytest
from conftest import assert_same_arrays

from zoo import modelfile
from zoo.evaluate import predict
from zoo.registry import load_entry
from zoo.train import train


@pytest.fixture(scope="module")
def trained(catalog, small_mnist):
    entry = load_entry("tuned-784-100-200-200-10-dropout-augment", catalog, ["train.steps=10"])
    network, _ = train(entry, small_mnist, catalog)
    return entry, network


def save(path, entry, network, **meta):
    return modelfile.save(path, network, entry, in_features=784, n_classes=10, meta={"seed": 0, **meta})


def test_round_trip_gives_identical_weights_and_predictions(tmp_path, trained, catalog, small_mnist):
    entry, network = trained
    path = save(tmp_path / "m.npz", entry, network, note="x")
    loaded, loaded_entry, meta = modelfile.load(path, catalog)
    assert_same_arrays(network.state(), loaded.state())
    assert loaded_entry.table == entry.table and meta == {"seed": 0, "note": "x"}
    assert np.array_equal(predict(network, small_mnist.test_images), predict(loaded, small_mnist.test_images))


def test_saved_files_get_ordinary_permissions(tmp_path, trained):
    entry, network = trained
    old = os.umask(0o022)
    try:
        path = save(tmp_path / "m.npz", entry, network)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
