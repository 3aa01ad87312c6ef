"""zoo.data on good input: IDX parsing, search order and downloads; the helpers that write toy datasets.

Bad input (damaged, missing, unreadable files and broken downloads) is in test_faults_data.py.
"""

import gzip
import hashlib
import io
import os
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from zoo import data
from zoo.data import IdxFile, candidate_dirs, load_image_dataset, read_idx
from zoo.errors import DataError

DATA = Path(os.environ.get("ZOO_DATA", Path(__file__).parents[2] / "shared" / "data"))
STEMS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
MIRROR = "https://mirror.example/mnist"


def _real_sums() -> dict[str, str]:
    try:
        lines = (DATA / "SHA256SUMS").read_text().splitlines()
    except FileNotFoundError:
        return {}
    entries = (line.split() for line in lines if line.strip() and not line.startswith("#"))
    return {path: digest for digest, path in entries}


SUMS = _real_sums()
needs_data = pytest.mark.skipif(not SUMS, reason=f"no real data in {DATA}")


def real_files(name: str) -> dict[str, IdxFile]:
    return {part: IdxFile(stem, SUMS[f"{name}/{stem}"]) for part, stem in STEMS.items()}


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8) as an IDX file: magic 0x0000 08 <ndim>, big-endian dimensions, then the bytes."""
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_toy(directory: Path, seed: int = 0, gz: bool = True, n_train: int = 5) -> dict[str, IdxFile]:
    """A tiny random dataset in `directory`; the same seed gives the same files and specs."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 4, 4), dtype=np.uint8),
        "train_labels": rng.integers(0, 3, 5, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (3, 4, 4), dtype=np.uint8),
        "test_labels": rng.integers(0, 3, 3, dtype=np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for part, array in arrays.items():
        raw, stem = idx_bytes(array), STEMS[part]
        if gz:
            (directory / f"{stem}.gz").write_bytes(gzip.compress(raw, mtime=0))
        else:
            (directory / stem).write_bytes(raw)
        files[part] = IdxFile(stem, hashlib.sha256(raw).hexdigest())
    return files


def load_toy(files, **kwargs):
    return load_image_dataset("toy", files, ("a", "b", "c"), (MIRROR,), **kwargs)


def no_network(url, timeout):
    raise urllib.error.URLError("no network in tests")


def isolate(monkeypatch, tmp_path) -> None:
    """Keep a test off the real environment, caches and network: the cache is ``tmp_path/xdg/zoo``."""
    monkeypatch.delenv("ZOO_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(data, "SYSTEM_DIR", tmp_path / "system")
    monkeypatch.setattr(data.urllib.request, "urlopen", no_network)


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


@needs_data
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_real_dataset_loads(name):
    classes = tuple(str(i) for i in range(10))
    loaded = load_image_dataset(name, real_files(name), classes, (MIRROR,), data_dir=DATA, download=False)
    assert loaded.train_images.shape == (60000, 28, 28)
    assert loaded.test_images.shape == (10000, 28, 28)
    assert loaded.train_labels.shape == (60000,) and loaded.test_labels.shape == (10000,)
    for array in (loaded.train_images, loaded.train_labels, loaded.test_images, loaded.test_labels):
        assert array.dtype == np.uint8
    assert set(np.unique(loaded.train_labels)) == set(range(10))
    assert set(np.unique(loaded.test_labels)) == set(range(10))
    assert loaded.classes == classes


@needs_data
def test_raw_file_matches_gzip(tmp_path):
    stem = "t10k-labels-idx1-ubyte"
    raw = tmp_path / stem
    raw.write_bytes(gzip.decompress((DATA / "mnist" / f"{stem}.gz").read_bytes()))
    from_raw = read_idx(raw, SUMS[f"mnist/{stem}"])
    np.testing.assert_array_equal(from_raw, read_idx(DATA / "mnist" / f"{stem}.gz"))
    assert from_raw.shape == (10000,) and from_raw.dtype == np.uint8


def test_loads_raw_files(tmp_path):
    files = write_toy(tmp_path / "d", gz=False)
    loaded = load_toy(files, data_dir=tmp_path / "d", download=False)
    assert loaded.train_images.shape == (5, 4, 4) and loaded.test_labels.shape == (3,)


def test_candidate_dirs_order(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "env"))
    assert candidate_dirs("toy") == [
        tmp_path / "env" / "toy",
        tmp_path / "env",
        tmp_path / "xdg" / "zoo" / "toy",
        tmp_path / "system" / "toy",
    ]
    # a data directory given explicitly is the only place searched
    assert candidate_dirs("toy", tmp_path / "arg") == [tmp_path / "arg" / "toy", tmp_path / "arg"]


def test_cache_dir(tmp_path, monkeypatch):
    assert data.cache_dir() == tmp_path / "xdg" / "zoo"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for xdg in ("", "relative/cache"):
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
        assert data.cache_dir() == tmp_path / "home" / ".cache" / "zoo"


def test_data_dir_beats_zoo_data(tmp_path, monkeypatch):
    files = write_toy(tmp_path / "arg" / "toy", seed=0)
    write_toy(tmp_path / "env", seed=1)  # same names, other contents: wrong sha256 for `files`
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "env"))
    assert load_toy(files, data_dir=tmp_path / "arg").train_images.shape == (5, 4, 4)
    with pytest.raises(DataError, match="env"):
        load_toy(files)


def test_missing_without_download_never_connects(tmp_path, monkeypatch):
    files = write_toy(tmp_path / "elsewhere")
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "env"))
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout: pytest.fail("connected"))
    with pytest.raises(DataError, match="downloading is turned off"):
        load_toy(files, download=False)


def test_an_explicit_data_dir_is_the_only_place_searched(tmp_path, monkeypatch):
    files = write_toy(tmp_path / "env")  # good files where $ZOO_DATA points, and in the cache
    write_toy(data.cache_dir() / "toy")
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "env"))
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout: pytest.fail("connected"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DatasetNotFound) as caught:
        load_toy(files, data_dir=tmp_path / "empty")
    message = str(caught.value)
    assert f"looked only in the data directory given: {tmp_path / 'empty' / 'toy'}, {tmp_path / 'empty'}" in message
    assert str(tmp_path / "env") not in message and "give no data directory" in message
    assert load_toy(files).train_images.shape == (5, 4, 4)  # without one, $ZOO_DATA is searched


@pytest.mark.parametrize("kind", ["file", "missing"])
def test_a_data_dir_that_is_not_a_directory_is_refused(tmp_path, monkeypatch, kind):
    files = write_toy(tmp_path / "env")
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "env"))  # would load, and used to, silently
    path = tmp_path / "not-a-dir"
    if kind == "file":
        path.write_text("x")
    expected = f"data directory {path} is a file, not a directory" if kind == "file" else f"no data directory {path}"
    with pytest.raises(DataError) as caught:
        load_toy(files, data_dir=path)
    assert str(caught.value) == expected


def serve(directory: Path, mirror: str = MIRROR):
    """A fake urlopen that serves `directory` under `mirror` and fails everything else."""

    def urlopen(url, timeout):
        if not url.startswith(mirror + "/"):
            raise urllib.error.URLError("unknown host")
        return io.BytesIO((directory / url.rsplit("/", 1)[1]).read_bytes())

    return urlopen


@needs_data
def test_download_lands_and_verifies(monkeypatch):
    monkeypatch.setattr(data.urllib.request, "urlopen", serve(DATA / "mnist"))
    classes = tuple(str(i) for i in range(10))
    loaded = load_image_dataset("mnist", real_files("mnist"), classes, ("https://dead.example", MIRROR))
    assert loaded.train_images.shape == (60000, 28, 28) and loaded.test_labels.shape == (10000,)
    cache = data.cache_dir() / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{stem}.gz" for stem in STEMS.values())
    again = load_image_dataset("mnist", real_files("mnist"), classes, (), download=False)
    np.testing.assert_array_equal(again.test_labels, loaded.test_labels)
