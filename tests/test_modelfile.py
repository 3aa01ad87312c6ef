"""Model files on good input: a trained model round-trips exactly, with ordinary file permissions.

Damaged, foreign and hostile files, and failed saves, are in test_faults_modelfile.py.
"""

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_same_arrays

from zoo import modelfile
from zoo.entries import load_entry
from zoo.errors import DataError
from zoo.evaluate import predict
from zoo.training import train


@pytest.fixture(scope="module")
def trained(catalog, small_mnist):
    entry = load_entry("tuned-784-100-200-200-10-dropout-augment", catalog, ["train.steps=10"])
    network, _ = train(entry, small_mnist, catalog)
    return entry, network


def save(path, entry, network, **meta):
    return modelfile.save(path, network, entry, meta={"seed": 0, **meta})


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


V1_FILE = Path(__file__).parent / "data" / "v1-tuned-784-10-10-adam.npz"
"""Written by zoo 0.1 (model format 1: flat input, no layer state) with `zoo train tuned-784-10-10-adam --out`."""


def test_a_version_1_file_loads_and_scores_what_it_recorded(catalog, mnist):
    network, entry, meta = modelfile.load(V1_FILE, catalog)
    assert entry.name == "tuned-784-10-10-adam" and network.in_shape == (784,)
    accuracy = float(np.mean(predict(network, mnist.test_images) == mnist.test_labels))
    assert accuracy == meta["test_accuracy"] == 0.9345


def test_a_version_1_file_saves_again_as_version_2(tmp_path, catalog):
    network, entry, meta = modelfile.load(V1_FILE, catalog)
    loaded, _, _ = modelfile.load(modelfile.save(tmp_path / "v2.npz", network, entry, meta=meta), catalog)
    assert_same_arrays(network.state(), loaded.state())
    assert modelfile.read_arrays(tmp_path / "v2.npz").keys() >= {"layers.0.W", "__zoo__"}


def test_images_of_another_size_are_one_line_not_a_numpy_error(catalog):
    network, _, _ = modelfile.load(V1_FILE, catalog)
    with pytest.raises(DataError, match=r"samples of shape \(32, 32\) do not fit this network, which takes \(784,\)"):
        predict(network, np.zeros((3, 32, 32), np.uint8))
