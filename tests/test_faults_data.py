"""Data faults, each made for real on disk: damaged, mismatched, missing and unreadable IDX files, and downloads
that break, lie or are killed. Each is one clear DataError line; zoo never changes or deletes the user's files,
and nothing but a verified download ever sits under a dataset file's name.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from test_data import MIRROR, STEMS, isolate, load_toy, serve, write_toy
from test_faults_config import assert_one_line

from zoo import data
from zoo.data import candidate_dirs, read_idx
from zoo.errors import DataError


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


def refused(path: Path, match: str, **kwargs) -> str:
    """Loading ``path`` raises one DataError line matching ``match`` and naming the file, which is left as it was."""
    before = path.read_bytes()
    with pytest.raises(DataError, match=match) as caught:
        read_idx(path, **kwargs)
    message = assert_one_line(caught.value)
    assert str(path) in message
    assert path.read_bytes() == before
    return message


@pytest.fixture
def labels_gz(tmp_path) -> Path:
    """A gzip'd IDX file of 5120 labels: a deflate stream with room to damage."""
    path = tmp_path / f"{STEMS['train_labels']}.gz"
    labels = bytes(range(256)) * 20
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", len(labels)) + labels, mtime=0))
    return path


@pytest.mark.parametrize("cut", [1, 10, 18, 0.5, -8, -1], ids=lambda cut: f"cut at {cut}")
def test_truncated_gzip(labels_gz, cut):
    content = labels_gz.read_bytes()
    labels_gz.write_bytes(content[: int(len(content) * cut) if isinstance(cut, float) else cut])
    refused(labels_gz, "is not a valid gzip file or is truncated")


@pytest.mark.parametrize("where", [0.25, 0.5, 0.75])
def test_corrupted_gzip(labels_gz, where):
    """A byte flipped inside the deflate stream (after the 10-byte header, before the 8-byte trailer)."""
    content = bytearray(labels_gz.read_bytes())
    position = 10 + int((len(content) - 18) * where)
    content[position] ^= 0xFF
    labels_gz.write_bytes(content)
    refused(labels_gz, "is not a valid gzip file or is truncated")


def test_html_page_saved_as_gzip(labels_gz):
    labels_gz.write_bytes(b"<html><body>404 Not Found</body></html>")
    refused(labels_gz, "is not a valid gzip file")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"\x12\x34\x56\x78" + bytes(100), "is not an IDX file: bad magic number 0x12345678"),
        (b"\x1f\x8b\x08\x00" + bytes(100), "is not an IDX file: bad magic number 0x1f8b0800"),
        (b"", "is not an IDX file"),
        (b"\0\0\x0d\x01" + struct.pack(">I", 2) + bytes(8), r"holds IDX type 0x0d; only unsigned bytes \(0x08\)"),
        (b"\0\0\x08\x00", "truncated or empty IDX header"),
        (b"\0\0\x08\x03\0\0\0\x01", "truncated or empty IDX header"),
        (b"\0\0\x08\x01" + struct.pack(">I", 5) + bytes(4), r"claims shape \(5,\) \(13 bytes\) but it holds 12 bytes"),
        (b"\0\0\x08\x01" + struct.pack(">I", 5) + bytes(6), r"claims shape \(5,\) \(13 bytes\) but it holds 14 bytes"),
    ],
    ids=["bad magic", "gzip without .gz", "empty", "signed bytes", "no dims", "short header", "short", "long"],
)
def test_bad_idx(tmp_path, content, match):
    path = tmp_path / "file-idx"
    path.write_bytes(content)
    refused(path, match)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_huge_header_refused_before_allocation(tmp_path, gz):
    """A header claiming 10^9 28x28 images (784 GB) in a 1 kB file: refused with the memory peak under 100 kB."""
    content = b"\0\0\x08\x03" + struct.pack(">3I", 10**9, 28, 28) + bytes(1000)
    path = tmp_path / ("images.gz" if gz else "images")
    path.write_bytes(gzip.compress(content) if gz else content)
    tracemalloc.start()
    try:
        message = refused(path, r"claims shape \(1000000000, 28, 28\)")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "holds 1016 bytes" in message
    assert peak < 100_000


def test_checksum_mismatch(tmp_path):
    files = write_toy(tmp_path / "good")
    write_toy(tmp_path / "other", seed=1)  # well-formed files with other contents
    path = tmp_path / "other" / f"{STEMS['train_labels']}.gz"
    actual = hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()
    expected = files["train_labels"].sha256
    message = refused(path, "is corrupt or a different version", expected_sha256=expected)
    assert actual in message and expected in message and "delete it and download it again" in message
    with pytest.raises(DataError, match=f"{tmp_path / 'other'}.*sha256"):
        load_toy(files, data_dir=tmp_path / "other")


def test_image_label_count_mismatch(tmp_path):
    files = write_toy(tmp_path, n_train=4)  # 4 training images, 5 labels
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz has 4 images but .*labels-idx1-ubyte.gz has 5"):
        load_toy(files, data_dir=tmp_path)


def test_images_and_labels_swapped(tmp_path):
    files = write_toy(tmp_path)
    files["test_images"], files["test_labels"] = files["test_labels"], files["test_images"]
    with pytest.raises(DataError, match="must hold 3-D images .* but they are 1-D and 3-D") as caught:
        load_toy(files, data_dir=tmp_path)
    assert_one_line(caught.value)


def test_label_beyond_the_classes(tmp_path):
    files = write_toy(tmp_path)
    with pytest.raises(DataError, match=r"has label 2 but toy has only 2 classes") as caught:
        data.load_image_dataset("toy", files, ("a", "b"), (), data_dir=tmp_path)
    assert_one_line(caught.value)


def test_missing_everywhere_and_offline(tmp_path, monkeypatch):
    files = write_toy(tmp_path / "elsewhere")
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "env"))
    with pytest.raises(data.DatasetNotFound) as caught:
        load_toy(files)
    message = assert_one_line(caught.value)
    for directory in candidate_dirs("toy"):
        assert str(directory) in message
    assert f"{MIRROR}/train-images-idx3-ubyte.gz" in message and "no network in tests" in message
    assert "t10k-labels-idx1-ubyte.gz" in message and "ZOO_DATA" in message
    assert not (tmp_path / "xdg").exists()


def as_json(files) -> str:
    return json.dumps({part: [file.name, file.sha256] for part, file in files.items()})


UNPRIVILEGED_LOAD = """
import json, sys
from zoo.data import IdxFile, load_image_dataset
from zoo.errors import DataError
files = {part: IdxFile(*spec) for part, spec in json.loads(sys.argv[1]).items()}
try:
    load_image_dataset("toy", files, ("a", "b", "c"), (), data_dir=sys.argv[2], download=False)
except DataError as error:
    sys.exit(str(error))
"""


def load_without_privileges(files, data_dir: Path, home: Path) -> subprocess.CompletedProcess:
    """Load the toy set in a fresh Python that file permissions apply to.

    Root ignores permissions, so as root the child runs without the capabilities that let it
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), through util-linux's ``setpriv``.
    """
    command = [sys.executable, "-c", UNPRIVILEGED_LOAD, as_json(files), str(data_dir)]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root, which ignores file permissions, and setpriv is not there to drop that")
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    env = {k: v for k, v in os.environ.items() if k != "ZOO_DATA"} | {"XDG_CACHE_HOME": str(home)}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("locked", ["directory", "file"])
def test_unreadable(tmp_path, locked):
    """chmod 000 on the directory searched first, or on one file in it: one line naming it; files untouched."""
    directory = tmp_path / "arg" / "toy"
    files = write_toy(directory)
    target = directory if locked == "directory" else directory / f"{STEMS['test_images']}.gz"
    before = {path: path.read_bytes() for path in directory.iterdir()}
    mode = target.stat().st_mode
    target.chmod(0)
    try:
        result = load_without_privileges(files, tmp_path / "arg", tmp_path / "xdg")
    finally:
        target.chmod(mode)
    message = result.stderr.strip()
    assert result.returncode == 1 and len(message.splitlines()) == 1, result.stderr
    assert message.startswith(f"cannot {'search' if locked == 'directory' else 'read'} {target}: ")
    denied = directory / f"{STEMS['train_images']}.gz" if locked == "directory" else target
    assert message.endswith(f"Permission denied: '{denied}'"), message
    assert {path: path.read_bytes() for path in directory.iterdir()} == before


class Dropping(io.BytesIO):
    """A response that dies after its first 100 bytes, like a dropped connection or Ctrl-C."""

    def __init__(self, content: bytes, error: BaseException, cache: Path, final: Path):
        super().__init__(content)
        self.error, self.cache, self.final = error, cache, final

    def read(self, size=-1):
        if self.tell():
            partial = [p.name for p in self.cache.iterdir()]
            assert partial and not self.final.exists(), f"a partial file beside {self.final}, not under its name"
            raise self.error
        return super().read(100)


@pytest.mark.parametrize("error", [ConnectionResetError("connection reset"), KeyboardInterrupt()])
def test_interrupted_download_leaves_nothing_and_a_later_load_downloads_again(tmp_path, monkeypatch, error):
    files = write_toy(tmp_path / "server")
    cache = tmp_path / "xdg" / "zoo" / "toy"
    final = cache / f"{STEMS['train_images']}.gz"
    content = (tmp_path / "server" / final.name).read_bytes()
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout: Dropping(content, error, cache, final))
    with pytest.raises(KeyboardInterrupt if isinstance(error, KeyboardInterrupt) else DataError):
        load_toy(files)
    assert list(cache.iterdir()) == []
    with pytest.raises(DataError, match="files not found"):
        load_toy(files, download=False)
    monkeypatch.setattr(data.urllib.request, "urlopen", serve(tmp_path / "server"))
    assert load_toy(files).train_images.shape == (5, 4, 4)
    assert final.read_bytes() == content


def test_short_download_is_discarded(tmp_path, monkeypatch):
    """A server that closes cleanly after half the file: the gzip check refuses it before it gets its name."""
    files = write_toy(tmp_path / "server")
    half = tmp_path / "half"
    half.mkdir()
    for path in (tmp_path / "server").iterdir():
        (half / path.name).write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    monkeypatch.setattr(data.urllib.request, "urlopen", serve(half))
    with pytest.raises(DataError, match="is not a valid gzip file or is truncated") as caught:
        load_toy(files)
    assert_one_line(caught.value)
    assert list((tmp_path / "xdg" / "zoo" / "toy").iterdir()) == []


def test_wrong_download_is_discarded(tmp_path, monkeypatch):
    files = write_toy(tmp_path / "server", seed=0)
    write_toy(tmp_path / "evil", seed=1)
    monkeypatch.setattr(data.urllib.request, "urlopen", serve(tmp_path / "evil"))
    with pytest.raises(DataError, match="sha256") as caught:
        load_toy(files)
    assert_one_line(caught.value)
    assert list((tmp_path / "xdg" / "zoo" / "toy").iterdir()) == []


KILLED_DOWNLOAD = """
import io, json, sys, time, urllib.request
from zoo.data import IdxFile, load_image_dataset

class Stalling(io.BytesIO):
    def read(self, size=-1):
        if self.tell():
            time.sleep(120)  # the test kills this process here
        return super().read(100)

content = open(sys.argv[1], "rb").read()
urllib.request.urlopen = lambda url, timeout: Stalling(content)
files = {part: IdxFile(*spec) for part, spec in json.loads(sys.argv[2]).items()}
load_image_dataset("toy", files, ("a", "b", "c"), ("https://mirror.example/mnist",))
"""


def test_killed_download_never_passes_as_complete(tmp_path, monkeypatch):
    """SIGKILL mid-download (no clean-up can run): the partial file never gets the final name or gets used."""
    files = write_toy(tmp_path / "server")
    cache = tmp_path / "xdg" / "zoo" / "toy"
    env = {k: v for k, v in os.environ.items() if k != "ZOO_DATA"} | {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    server_file = tmp_path / "server" / f"{STEMS['train_images']}.gz"
    child = subprocess.Popen([sys.executable, "-c", KILLED_DOWNLOAD, str(server_file), as_json(files)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not (cache.is_dir() and any(cache.iterdir())) and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert child.poll() is None, "the downloading process should be stalled mid-download"
    finally:
        child.kill()  # SIGKILL
        child.wait()
    assert child.returncode == -signal.SIGKILL
    leftovers = list(cache.iterdir())
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".") and leftovers[0].name.endswith(".part.gz")
    with pytest.raises(DataError, match="files not found"):
        load_toy(files, download=False)
    monkeypatch.setattr(data.urllib.request, "urlopen", serve(tmp_path / "server"))
    assert load_toy(files).train_images.shape == (5, 4, 4)
    assert (cache / server_file.name).read_bytes() == server_file.read_bytes()
