"""Model files: round trip, atomic writes, and refusal of anything that is not a sound zoo model file."""

import json
import os
import stat
import zipfile

import numpy as np
import pytest
from conftest import assert_same_arrays

from zoo import modelfile
from zoo.errors import ModelFileError
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


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path, trained, monkeypatch):
    entry, network = trained
    path = save(tmp_path / "m.npz", entry, network)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(ModelFileError, match="disk full"):
        save(path, entry, network)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_a_failed_rename_leaves_no_temporary_file(tmp_path, trained):
    entry, network = trained
    (tmp_path / "taken").mkdir()
    with pytest.raises(ModelFileError, match="cannot write model file"):
        save(tmp_path / "taken", entry, network)
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]


def test_saved_files_get_ordinary_permissions(tmp_path, trained):
    entry, network = trained
    old = os.umask(0o022)
    try:
        path = save(tmp_path / "m.npz", entry, network)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_an_npy_file_is_refused(tmp_path, catalog):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(ModelFileError, match="not an .npz archive"):
        modelfile.load(path, catalog)


def test_loading_never_unpickles(tmp_path, catalog):
    path = tmp_path / "evil.npz"
    np.savez(path, **{"__zoo__": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ModelFileError, match="not a readable zoo model file"):
        modelfile.load(path, catalog)


def rewrite(path, out, change):
    """Copy a model file, letting ``change(arrays, header)`` edit its arrays and header."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    header = json.loads(arrays.pop("__zoo__").tobytes())
    change(arrays, header)
    arrays["__zoo__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(out, **arrays)
    return out


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a, h: a.pop("layers.0.W"), "do not match the stored entry's parameters"),
        (
            lambda a, h: a.__setitem__("layers.0.W", np.zeros((3, 3), np.float32)),
            "layers.0.W is float32[3, 3], expected float32[784, 100]",
        ),
        (lambda a, h: a.__setitem__("layers.0.W", a["layers.0.W"].astype(np.float64)), "expected float32"),
        (lambda a, h: h.__setitem__("format_version", 99), "format version 99 is newer"),
        (lambda a, h: h.__setitem__("format", "other"), "not a zoo model file"),
        (lambda a, h: h["entry"]["layers"][0].__setitem__("type", "conv9"), "unknown layer 'conv9'"),
        (lambda a, h: h.pop("n_classes"), "n_classes missing"),
        (lambda a, h: h.__setitem__("in_features", -5), "in_features = -5 is out of range"),
        (lambda a, h: h.__setitem__("in_features", 10**12), "is out of range"),
        (lambda a, h: h.__setitem__("n_classes", True), "n_classes missing or not int"),
    ],
)
def test_foreign_or_tampered_files_are_refused(tmp_path, trained, catalog, change, message):
    entry, network = trained
    good = save(tmp_path / "good.npz", entry, network)
    bad = rewrite(good, tmp_path / "bad.npz", change)
    with pytest.raises(ModelFileError) as caught:
        modelfile.load(bad, catalog)
    assert message in str(caught.value) and str(bad) in str(caught.value)


def test_truncated_file_is_refused(tmp_path, trained, catalog):
    entry, network = trained
    data = save(tmp_path / "good.npz", entry, network).read_bytes()
    for size in (0, 10, len(data) // 2, len(data) - 30):
        cut = tmp_path / f"cut{size}.npz"
        cut.write_bytes(data[:size])
        with pytest.raises(ModelFileError):
            modelfile.load(cut, catalog)


def test_a_plain_npz_without_metadata_is_refused(tmp_path, catalog):
    path = tmp_path / "plain.npz"
    np.savez(path, w=np.zeros(3))
    with pytest.raises(ModelFileError, match="not a zoo model file"):
        modelfile.load(path, catalog)
    assert zipfile.is_zipfile(path)
