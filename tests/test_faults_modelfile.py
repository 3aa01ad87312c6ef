"""Model-file faults, each a real damaged or hostile file on disk: loading refuses it with one ModelFileError line,
never unpickles and never allocates from an unchecked size; a failed save leaves the old file as it was.
"""

import io
import itertools
import json
import os
import struct
import time
import tracemalloc
import zipfile
from pathlib import Path

import attrs
import numpy as np
import pytest
from conftest import assert_same_arrays
from hypothesis import given, settings
from hypothesis import strategies as st
from test_faults_config import assert_one_line

from zoo import modelfile
from zoo.config import ModelEntry
from zoo.errors import ModelFileError
from zoo.network import build_network

TINY = {
    "description": "a 6-5-3 net: a model file of about 1 kB, small enough to damage at every byte",
    "layers": [{"type": "dense", "units": 5}, {"type": "relu"}, {"type": "dense", "units": 3}],
    "loss": {"type": "softmax_cross_entropy"},
    "optimizer": {"type": "sgd", "lr": 0.1},
    "batches": {"type": "sequential"},
    "train": {"steps": 1},
}
META = {"seed": 1, "note": "tiny"}


@attrs.frozen
class Saved:
    """A model file's bytes and what loading it must give back."""

    content: bytes
    state: dict[str, np.ndarray] = attrs.field(eq=False)
    table: dict
    meta: dict


def save_tiny(path: Path, catalog) -> Saved:
    """The tiny model, saved with the clock stopped so its bytes (zip timestamps too) are the same every run."""
    entry = ModelEntry.from_table("tiny", TINY, "tiny.toml", catalog)
    network = build_network(entry, catalog, (6,), 3, np.random.SeedSequence(1))
    network.params[1].value[:] = np.arange(5)  # non-zero biases, so every array has data worth damaging
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "time", lambda: 1_700_000_000.0)
        modelfile.save(path, network, entry, meta=META)
    return Saved(path.read_bytes(), network.state(), entry.table, META)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, catalog) -> Saved:
    return save_tiny(tmp_path_factory.mktemp("tiny") / "tiny.npz", catalog)


def refused_or_intact(path: Path, catalog, saved: Saved) -> bool:
    """True if zoo refuses ``path`` with one ModelFileError line; False if it loads exactly the saved model.

    Any other outcome (another exception, or a model that differs) fails the test.
    """
    try:
        network, entry, meta = modelfile.load(path, catalog)
    except ModelFileError as error:
        assert str(path) in assert_one_line(error)
        return True
    assert_same_arrays(network.state(), saved.state)
    assert entry.table == saved.table and meta == saved.meta
    return False


def refused(path: Path, catalog, match: str) -> str:
    with pytest.raises(ModelFileError, match=match) as caught:
        modelfile.load(path, catalog)
    message = assert_one_line(caught.value)
    assert str(path) in message
    return message


_names = itertools.count()


def damaged_copy(directory: Path, content: bytes) -> Path:
    """``content`` under a new name: rewriting one file over and over is slow, as ext4 flushes each truncation."""
    path = directory / f"damaged-{next(_names)}.npz"
    path.write_bytes(content)
    return path


def test_truncated_at_every_length(tmp_path, tiny, catalog):
    for size in range(len(tiny.content)):
        assert refused_or_intact(damaged_copy(tmp_path, tiny.content[:size]), catalog, tiny), size


@settings(max_examples=300, deadline=None, derandomize=True)
@given(where=st.floats(0, 1, exclude_max=True), mask=st.integers(1, 255))
def test_a_byte_flipped_anywhere(tmp_path_factory, tiny, catalog, where, mask):
    """Any one byte changed: refused, or (a byte zip and numpy ignore, e.g. a timestamp) the same model."""
    content = bytearray(tiny.content)
    content[int(where * len(content))] ^= mask
    path = damaged_copy(tmp_path_factory.getbasetemp(), content)
    refused_or_intact(path, catalog, tiny)
    path.unlink()


def test_a_flipped_weight_is_caught_by_the_crc(tmp_path, tiny, catalog):
    content = bytearray(tiny.content)
    content[content.index(tiny.state["layers.0.W"].tobytes()) + 4] ^= 0x01  # the last mantissa bit of one weight
    path = tmp_path / "flipped.npz"
    path.write_bytes(content)
    refused(path, catalog, "Bad CRC-32 for file 'layers.0.W.npy'")


def rewrite(saved: Saved, path: Path, change) -> Path:
    """Write ``saved`` again as ``np.savez`` would, after ``change(arrays, header)`` edited it in place."""
    with np.load(io.BytesIO(saved.content), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(arrays.pop("__zoo__").tobytes())
    change(arrays, header)
    if "__zoo__" not in arrays:
        arrays["__zoo__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    return path


def layer(i: int, **options):
    return lambda arrays, header: header["entry"]["layers"][i].update(options)


def header_bytes(raw: bytes):
    return lambda arrays, header: arrays.__setitem__("__zoo__", np.frombuffer(raw, dtype=np.uint8))


TAMPERED = {
    "array missing": (lambda a, h: a.pop("layers.2.W"), r"arrays \[.*\] do not match the stored entry's parameters"),
    "extra array": (lambda a, h: a.__setitem__("evil", np.zeros(3)), "do not match the stored entry's parameters"),
    "array renamed": (lambda a, h: a.__setitem__("layers.0.w", a.pop("layers.0.W")), "do not match"),
    "wrong shape": (
        lambda a, h: a.__setitem__("layers.0.W", np.zeros((5, 6), np.float32)),
        r"array layers.0.W is float32\[5, 6\], expected float32\[6, 5\]",
    ),
    "wrong dtype": (
        lambda a, h: a.__setitem__("layers.0.W", a["layers.0.W"].astype(np.float64)),
        r"array layers.0.W is float64\[6, 5\], expected float32\[6, 5\]",
    ),
    "wrong byte order": (
        lambda a, h: a.__setitem__("layers.0.W", a["layers.0.W"].astype(">f4")),
        r"array layers.0.W is >f4\[6, 5\], expected float32",
    ),
    "integer weights": (lambda a, h: a.__setitem__("layers.0.b", np.arange(5)), "array layers.0.b is int64"),
    "text array": (lambda a, h: a.__setitem__("layers.0.b", np.array(["a"] * 5)), "holds <U1, not plain numbers"),
    "newer format version": (
        lambda a, h: h.__setitem__("format_version", 3),
        r"model format version 3 is newer than this zoo reads \(2\); upgrade zoo",
    ),
    "version not a number": (lambda a, h: h.__setitem__("format_version", "1"), "corrupt metadata: format_version '1'"),
    "another format": (lambda a, h: h.__setitem__("format", "keras"), "not a zoo model file"),
    "unknown plugin": (
        layer(0, type="dens"),
        r"the stored model cannot be rebuilt: .*\(stored entry\): layers.0.type: unknown layer 'dens'; "
        r"did you mean 'dense'\?",
    ),
    "unknown initialiser": (layer(0, weight_init="he_norm"), "unknown initialiser 'he_norm'; did you mean 'he_normal'"),
    "invalid stored entry": (layer(0, units=-5), r"layers.0: 'units' must be an integer > 0, got -5"),
    "entry for other classes": (
        layer(2, units=4),
        r"the last layer \(dense\) gives outputs of shape \(4,\) but mnist has 3 classes",
    ),
    "layer too wide to allocate": (layer(0, units=10**30), "the stored model cannot be rebuilt: .*dimension"),
    "n_classes missing": (lambda a, h: h.pop("n_classes"), "corrupt metadata: n_classes missing or not int"),
    "n_classes a bool": (lambda a, h: h.__setitem__("n_classes", True), "n_classes missing or not int"),
    "in_shape negative": (lambda a, h: h.__setitem__("in_shape", [-5]), r"in_shape = \[-5\] is not a shape"),
    "in_shape empty": (lambda a, h: h.__setitem__("in_shape", []), r"in_shape = \[\] is not a shape"),
    "in_shape of floats": (lambda a, h: h.__setitem__("in_shape", [1.0, 6]), r"in_shape = \[1.0, 6\] is not a shape"),
    "in_shape an int": (lambda a, h: h.__setitem__("in_shape", 6), "in_shape missing or not list"),
    "in_shape huge": (lambda a, h: h.__setitem__("in_shape", [10**6, 10**6]), "in_shape = .* is out of range"),
    "format version 0": (lambda a, h: h.__setitem__("format_version", 0), "format_version 0"),
    "meta not a table": (lambda a, h: h.__setitem__("meta", []), "corrupt metadata: meta missing or not dict"),
    "header not JSON": (header_bytes(b"\x80not json"), r"corrupt metadata \("),
    "header a JSON list": (header_bytes(b"[1, 2]"), "not a zoo model file"),
    "header nested 100000 deep": (header_bytes(b"[" * 100_000 + b"]" * 100_000), "corrupt metadata .*recursion"),
    "header as floats": (lambda a, h: a.__setitem__("__zoo__", np.zeros(3)), r"no __zoo__ metadata"),
}


@pytest.mark.parametrize("change, match", TAMPERED.values(), ids=TAMPERED.keys())
def test_tampered_file(tmp_path, tiny, catalog, change, match):
    refused(rewrite(tiny, tmp_path / "tampered.npz", change), catalog, match)


def test_foreign_npz(tmp_path, catalog):
    rng = np.random.default_rng(0)
    path = tmp_path / "foreign.npz"
    np.savez(path, weights=rng.normal(size=(784, 10)), bias=rng.normal(size=10), ids=rng.integers(0, 9, 5))
    refused(path, catalog, r"not a zoo model file \(no __zoo__ metadata\)")


class Payload:
    """Unpickling this creates ``marker``: a stand-in for code a hostile file would run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


@pytest.mark.parametrize("where", ["__zoo__", "layers.0.b"])
def test_a_pickle_inside_is_never_unpickled(tmp_path, tiny, catalog, where):
    marker = tmp_path / "code-ran"
    evil = np.array([Payload(marker)], dtype=object)
    path = rewrite(tiny, tmp_path / "evil.npz", lambda arrays, header: arrays.__setitem__(where, evil))
    refused(path, catalog, f"array {where}: holds Python objects, which only unpickling could read; refused")
    assert not marker.exists()
    with np.load(path, allow_pickle=True) as archive:
        archive[where]  # what loading with pickles allowed would have done
    assert marker.exists(), "the payload should be live, or the test above proves nothing"


def test_compressed_members_are_refused(tmp_path, tiny, catalog):
    with np.load(io.BytesIO(tiny.content), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    path = tmp_path / "compressed.npz"
    np.savez_compressed(path, **arrays)
    refused(path, catalog, "compressed or encrypted, but zoo model files hold plain arrays")


def npy(descr: str, shape: tuple, data: bytes) -> bytes:
    """A .npy file (format 1.0) with any header: numpy.lib.format would not write a lying one."""
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + data


@pytest.mark.parametrize(
    "member, match",
    [
        (npy("<f8", (2**40,), bytes(100)), r"header claims shape \(1099511627776,\) of float64 but it holds 100 bytes"),
        (npy("<f4", (-2, -3), bytes(24)), r"header claims shape \(-2, -3\)"),
        (b"\x93NUMPY\x03\x00" + bytes(100), r"unsupported .npy format version \(3, 0\)"),
        (b"just text", "not a readable zoo model file"),
    ],
    ids=["8 TiB claimed", "negative shape", "npy version 3", "not npy"],
)
def test_lying_array_header_refused_before_allocation(tmp_path, catalog, member, match):
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("__zoo__.npy", member)
    tracemalloc.start()
    try:
        refused(path, catalog, match)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_a_member_that_is_not_an_array(tmp_path, tiny, catalog):
    path = tmp_path / "extra.npz"
    path.write_bytes(tiny.content)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("README.txt", "hello")
    refused(path, catalog, r"member 'README.txt' is not an .npy array")


def test_an_array_stored_twice(tmp_path, tiny, catalog):
    path = tmp_path / "twice.npz"
    path.write_bytes(tiny.content)
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "a") as archive:
        archive.writestr("layers.0.W.npy", npy("<f4", (6, 5), bytes(120)))
    refused(path, catalog, "array layers.0.W is stored twice")


def test_encrypted_member(tmp_path, tiny, catalog):
    content = bytearray(tiny.content)
    central = content.index(b"PK\x01\x02")
    content[central + 8] |= 0x01  # general purpose flag bit 0: encrypted
    path = tmp_path / "encrypted.npz"
    path.write_bytes(content)
    refused(path, catalog, "compressed or encrypted")


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", r"not a zoo model file \(not an .npz archive, or truncated\)"),
        (b"<html>404</html>", "not an .npz archive"),
        (np.random.default_rng(0).bytes(2000), "not an .npz archive"),
    ],
    ids=["empty", "html", "random bytes"],
)
def test_not_a_zip(tmp_path, catalog, content, match):
    path = tmp_path / "model.npz"
    path.write_bytes(content)
    refused(path, catalog, match)


def test_an_npy_file(tmp_path, catalog):
    path = tmp_path / "model.npy"
    np.save(path, np.zeros(3))
    refused(path, catalog, "not an .npz archive")


def test_a_directory(tmp_path, catalog):
    refused(tmp_path, catalog, "is a directory, not a model file")


def test_a_missing_file(tmp_path, catalog):
    refused(tmp_path / "nothing.npz", catalog, "nothing.npz: no such file")


def fail_on_second_array(error: BaseException):
    """A stand-in for np.savez's per-array writer that raises ``error`` once the first array is written."""
    real, calls = np.lib.format.write_array, []

    def write_array(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise error
        return real(*args, **kwargs)

    return write_array


def failing_fsync(descriptor):
    raise OSError(5, "Input/output error")


@pytest.mark.parametrize(
    "failure, raised, match",
    [
        ("write", ModelFileError, "cannot write model file: .*No space left on device"),
        ("interrupt", KeyboardInterrupt, None),
        ("fsync", ModelFileError, "cannot write model file: .*Input/output error"),
    ],
)
def test_a_failed_save_leaves_the_old_file_intact(tmp_path, tiny, catalog, monkeypatch, failure, raised, match):
    path = tmp_path / "model.npz"
    path.write_bytes(tiny.content)
    network, entry, _ = modelfile.load(path, catalog)
    network.params[0].value[:] = 0  # "retrained": a save that went through would change the file
    if failure == "fsync":
        monkeypatch.setattr(os, "fsync", failing_fsync)
    else:
        error = OSError(28, "No space left on device") if failure == "write" else KeyboardInterrupt()
        monkeypatch.setattr(np.lib.format, "write_array", fail_on_second_array(error))
    with pytest.raises(raised, match=match):
        modelfile.save(path, network, entry, meta=META)
    assert path.read_bytes() == tiny.content
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]
    monkeypatch.undo()
    modelfile.save(path, network, entry, meta=META)
    assert not modelfile.load(path, catalog)[0].params[0].value.any()


def test_a_failed_rename_leaves_no_temporary_file(tmp_path, tiny, catalog):
    path = tmp_path / "m.npz"
    path.write_bytes(tiny.content)
    network, entry, _ = modelfile.load(path, catalog)
    (tmp_path / "taken").mkdir()
    with pytest.raises(ModelFileError, match="cannot write model file"):
        modelfile.save(tmp_path / "taken", network, entry, meta=META)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz", "taken"]
    assert list((tmp_path / "taken").iterdir()) == []
