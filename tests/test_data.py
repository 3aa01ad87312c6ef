"""Tests for zoo.data: IDX parsing, search order, verification and atomic downloads."""

import gzip
import hashlib
import io
import os
import struct
import time
import tracemalloc
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
            (directory / f"{stem}.gz").write_bytes(gzip.compress(raw))
        else:
            (directory / stem).write_bytes(raw)
        files[part] = IdxFile(stem, hashlib.sha256(raw).hexdigest())
    return files


def load_toy(files, **kwargs):
    return load_image_dataset("toy", files, ("a", "b", "c"), (MIRROR,), **kwargs)


def no_network(url, timeout):
    raise urllib.error.URLError("no network in tests")


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Keep every test off the real environment, caches and network."""
    monkeypatch.delenv("ZOO_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(data, "SYSTEM_DIR", tmp_path / "system")
    monkeypatch.setattr(data.urllib.request, "urlopen", no_network)


def assert_one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


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
    assert candidate_dirs("toy", tmp_path / "arg") == [
        tmp_path / "arg" / "toy",
        tmp_path / "arg",
        tmp_path / "env" / "toy",
        tmp_path / "env",
        tmp_path / "xdg" / "zoo" / "toy",
        tmp_path / "system" / "toy",
    ]


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


def test_sha_mismatch(tmp_path):
    files = write_toy(tmp_path, seed=0)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    actual = hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()
    with pytest.raises(DataError) as error:
        read_idx(path, "0" * 64)
    message = assert_one_line(error)
    assert str(path) in message and "0" * 64 in message and actual in message and "delete" in message
    assert read_idx(path, files["train_labels"].sha256).shape == (5,)


@needs_data
@pytest.mark.parametrize("damage", ["truncated", "flipped", "not gzip"])
def test_bad_gzip(tmp_path, damage):
    good = (DATA / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    bad = {
        "truncated": good[: len(good) // 2],
        "flipped": good[:2000] + bytes([good[2000] ^ 0xFF]) + good[2001:],
        "not gzip": b"<html>404</html>",
    }[damage]
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(bad)
    with pytest.raises(DataError, match="not a valid gzip file or is truncated") as error:
        read_idx(path)
    assert str(path) in assert_one_line(error)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"\x12\x34\x56\x78" + bytes(100), "not an IDX file"),
        (b"", "not an IDX file"),
        (b"\0\0\x0d\x01" + struct.pack(">I", 2) + bytes(8), r"type 0x0d"),
        (b"\0\0\x08\x00", "empty IDX header"),
        (b"\0\0\x08\x03\0\0\0\x01", "truncated"),
        (b"\0\0\x08\x01" + struct.pack(">I", 5) + bytes(4), "claims shape"),
        (b"\0\0\x08\x01" + struct.pack(">I", 5) + bytes(6), "claims shape"),
    ],
    ids=["bad magic", "empty", "signed bytes", "no dimensions", "short header", "short data", "extra data"],
)
def test_bad_idx(tmp_path, content, match):
    path = tmp_path / "file-idx"
    path.write_bytes(content)
    with pytest.raises(DataError, match=match) as error:
        read_idx(path)
    assert str(path) in assert_one_line(error)


@pytest.mark.parametrize("gz", [False, True])
def test_huge_header_refused_without_allocating(tmp_path, gz):
    content = b"\0\0\x08\x03" + struct.pack(">3I", 10**9, 28, 28) + bytes(1000)
    path = tmp_path / ("images.gz" if gz else "images")
    path.write_bytes(gzip.compress(content) if gz else content)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(DataError, match="claims shape"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 1
    assert peak < 1_000_000


def test_count_mismatch(tmp_path):
    files = write_toy(tmp_path, n_train=4)  # 4 training images, 5 labels
    with pytest.raises(DataError, match="4 images but .* 5 labels") as error:
        load_toy(files, data_dir=tmp_path)
    assert_one_line(error)


def test_swapped_files_refused(tmp_path):
    files = write_toy(tmp_path)
    files["test_images"], files["test_labels"] = files["test_labels"], files["test_images"]
    with pytest.raises(DataError, match="3-D images"):
        load_toy(files, data_dir=tmp_path)


def test_missing_everywhere_lists_where_it_looked(tmp_path, monkeypatch):
    files = write_toy(tmp_path / "elsewhere")
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "env"))
    with pytest.raises(DataError) as error:
        load_toy(files, data_dir=tmp_path / "arg")
    message = assert_one_line(error)
    for directory in candidate_dirs("toy", tmp_path / "arg"):
        assert str(directory) in message
    assert f"{MIRROR}/train-images-idx3-ubyte.gz" in message and "no network in tests" in message
    assert "t10k-labels-idx1-ubyte.gz" in message and "ZOO_DATA" in message
    assert not (tmp_path / "xdg").exists()


def test_missing_without_download_never_connects(tmp_path, monkeypatch):
    files = write_toy(tmp_path / "elsewhere")
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout: pytest.fail("connected"))
    with pytest.raises(DataError, match="downloading is turned off"):
        load_toy(files, data_dir=tmp_path / "arg", download=False)


class Dropping(io.BytesIO):
    """A response that dies after its first chunk, like a dropped connection or Ctrl-C."""

    def __init__(self, content: bytes, error: BaseException, directory: Path):
        super().__init__(content)
        self.error, self.directory = error, directory

    def read(self, size=-1):
        if self.tell():
            assert any(self.directory.iterdir()), "the partial download should be on disk by now"
            raise self.error
        return super().read(100)


@pytest.mark.parametrize("error", [ConnectionResetError("connection reset"), KeyboardInterrupt()])
def test_interrupted_download_leaves_nothing(tmp_path, monkeypatch, error):
    files = write_toy(tmp_path / "server")
    cache = tmp_path / "xdg" / "zoo" / "toy"
    content = (tmp_path / "server" / "train-images-idx3-ubyte.gz").read_bytes() * 3
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout: Dropping(content, error, cache))
    with pytest.raises(type(error) if isinstance(error, KeyboardInterrupt) else DataError):
        load_toy(files)
    assert list(cache.iterdir()) == []


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


def test_bad_download_is_discarded(tmp_path, monkeypatch):
    files = write_toy(tmp_path / "server", seed=0)
    write_toy(tmp_path / "evil", seed=1)
    monkeypatch.setattr(data.urllib.request, "urlopen", serve(tmp_path / "evil"))
    with pytest.raises(DataError, match="sha256") as error:
        load_toy(files)
    assert_one_line(error)
    assert list((tmp_path / "xdg" / "zoo" / "toy").iterdir()) == []


def test_unreadable_file(tmp_path, monkeypatch):
    # Simulated: the tests may run as root, which can read anything.
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"")

    def read_bytes(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(DataError, match="cannot read .*Permission denied"):
        read_idx(path)


def test_unreadable_directory(tmp_path, monkeypatch):
    files = write_toy(tmp_path / "elsewhere")
    locked = tmp_path / "arg" / "toy"

    def is_file(self):
        if self.parent == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return self.exists() and not self.is_dir()

    monkeypatch.setattr(Path, "is_file", is_file)
    with pytest.raises(DataError, match=f"cannot search {locked}"):
        load_toy(files, data_dir=tmp_path / "arg")
