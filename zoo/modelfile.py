"""Model files: ``.npz`` archives of plain arrays plus the entry and metadata as JSON. Never pickled.

Layout: one array per parameter and per array of layer state (``layers.0.W``,
``layers.3.running_mean``, ...) and ``__zoo__``, a uint8 array holding UTF-8 JSON with
the format name and version, the entry's TOML table, the per-sample input shape, the
class count, the seed and the metrics. Version 1 files (zoo 0.1: flat ``in_features``, no
layer state) still load: their network is rebuilt for flat input of that width.

Loading reads each array itself (:func:`read_arrays`: no pickles, and no size taken from a
header before it is checked against the file), then checks every array's name, shape and
dtype against the network the stored entry builds.
"""

import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

import zoo
from zoo.atomic import write_atomic
from zoo.catalog import Catalog
from zoo.config import ModelEntry
from zoo.errors import ModelFileError, ZooError, one_line
from zoo.network import Network, build_network

FORMAT = "zoo-model"
FORMAT_VERSION = 2
META_KEY = "__zoo__"
MAX_WIDTH = 1 << 24
"""Largest input size or class count a header may claim: a corrupt one must not make zoo allocate gigabytes."""
MAX_AXES = 8
"""Most axes an input shape may have."""


def save(
    path: str | os.PathLike,
    network: Network,
    entry: ModelEntry,
    *,
    meta: dict[str, Any],
) -> Path:
    """Write the model atomically: a temporary file in the same directory, fsynced, then renamed over ``path``.

    The input shape and class count are the network's own (``network.shapes``).
    """
    path = Path(path)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "zoo_version": zoo.__version__,
        "name": entry.name,
        "entry": entry.table,
        "in_shape": list(network.in_shape),
        "n_classes": network.shapes[-1][0],
        "meta": meta,
    }
    arrays = dict(network.state())
    arrays[META_KEY] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    try:
        write_atomic(path, lambda f: np.savez(f, **arrays))
    except OSError as error:
        raise ModelFileError(f"{path}: cannot write model file: {one_line(error)}") from None
    return path


def check_writable(path: str | os.PathLike) -> None:
    """Refuse, before any work is done, a model path that :func:`save` could not write."""
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{path}: is a directory; give a file name such as {path / 'model.npz'}")
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ModelFileError(f"{path}: cannot write model file: {parent} is not a writable directory")


def load(path: str | os.PathLike, catalog: Catalog) -> tuple[Network, ModelEntry, dict[str, Any]]:
    """Read a model file; anything but a well-formed zoo model file is refused with a ModelFileError."""
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{path}: is a directory, not a model file")
    arrays = read_arrays(path)
    header = _header(path, arrays.pop(META_KEY, None))
    try:
        entry = ModelEntry.from_table(header["name"], header["entry"], f"{path} (stored entry)", catalog)
        network = build_network(entry, catalog, header["in_shape"], header["n_classes"], np.random.SeedSequence(0))
    except ZooError as error:
        raise ModelFileError(f"{path}: the stored model cannot be rebuilt: {error}") from None
    expected = network.state()
    if set(arrays) != set(expected):
        raise ModelFileError(
            f"{path}: arrays {sorted(arrays)} do not match the stored entry's parameters and state {sorted(expected)}"
        )
    for name, value in expected.items():
        if arrays[name].shape != value.shape or arrays[name].dtype != value.dtype:
            raise ModelFileError(
                f"{path}: array {name} is {arrays[name].dtype}{list(arrays[name].shape)}, "
                f"expected {value.dtype}{list(value.shape)}"
            )
    network.load_state(arrays)
    return network, entry, header["meta"]


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """A model file's recorded metadata (metrics, seed, recipe hash ...), checked like :func:`load` but not built."""
    path = Path(path)
    return _header(path, read_arrays(path).get(META_KEY))["meta"]


def read_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` as ``np.savez`` writes it, never unpickled, never allocated from an unchecked size.

    Each member must be an uncompressed, unencrypted ``.npy`` of plain numbers whose header
    claims exactly the bytes the member holds, and its CRC-32 must match: anything else is a
    ModelFileError, raised before any array is allocated. The arrays are read-only.
    """
    path = Path(path)
    if path.is_file() and not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a zoo model file (not an .npz archive, or truncated)")
    try:
        size = path.stat().st_size
        arrays = {}
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = info.filename.removesuffix(".npy")
                if name in arrays:
                    raise ModelFileError(f"{path}: array {name} is stored twice")
                arrays[name] = _read_member(archive, info, f"{path}: array {name}", size)
        return arrays
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    # What zipfile and numpy's .npy header reader raise on damaged input (UnicodeDecodeError is a ValueError;
    # NotImplementedError is zipfile's answer to a feature or version it cannot read).
    except (OSError, EOFError, ValueError, NotImplementedError, zipfile.BadZipFile, zipfile.LargeZipFile) as error:
        raise ModelFileError(f"{path}: not a readable zoo model file ({one_line(error)})") from None


_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
_ENCRYPTED_OR_PATCHED = 0x1 | 0x20 | 0x40
"""ZIP flag bits zipfile cannot read without a password, or at all."""


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str, archive_size: int) -> np.ndarray:
    if not info.filename.endswith(".npy"):
        raise ModelFileError(f"{where}: not a zoo model file (member {info.filename!r} is not an .npy array)")
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & _ENCRYPTED_OR_PATCHED:
        raise ModelFileError(f"{where}: compressed or encrypted, but zoo model files hold plain arrays")
    if info.file_size > archive_size:
        raise ModelFileError(f"{where}: claims {info.file_size} bytes, more than the whole file holds")
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version not in _NPY_HEADERS:
            raise ModelFileError(f"{where}: unsupported .npy format version {version}")
        shape, fortran_order, dtype = _NPY_HEADERS[version](member)
        if dtype.hasobject:
            raise ModelFileError(f"{where}: holds Python objects, which only unpickling could read; refused")
        if dtype.kind not in "biufc":
            raise ModelFileError(f"{where}: holds {dtype}, not plain numbers")
        data_size = info.file_size - member.tell()
        if min(shape, default=0) < 0 or math.prod(shape) * dtype.itemsize != data_size:
            raise ModelFileError(f"{where}: its header claims shape {shape} of {dtype} but it holds {data_size} bytes")
        data = member.read()  # to the end, so zipfile checks the CRC-32
    if len(data) != data_size:
        raise ModelFileError(f"{where}: truncated ({len(data)} of {data_size} bytes)")
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran_order else "C")


def _header(path: Path, raw: np.ndarray | None) -> dict[str, Any]:
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError(f"{path}: not a zoo model file (no {META_KEY} metadata)")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:  # RecursionError: [[[[...
        raise ModelFileError(f"{path}: corrupt metadata ({one_line(error)})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a zoo model file")
    version = header.get("format_version")
    if type(version) is not int or version < 1:
        raise ModelFileError(f"{path}: corrupt metadata: format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format version {version!r} is newer than this zoo reads ({FORMAT_VERSION}); upgrade zoo"
        )
    shape_key = "in_features" if version == 1 else "in_shape"
    fields = {"name": str, "entry": dict, shape_key: int if version == 1 else list, "n_classes": int, "meta": dict}
    for key, kind in fields.items():
        if type(header.get(key)) is not kind:
            raise ModelFileError(f"{path}: corrupt metadata: {key} missing or not {kind.__name__}")
    if version == 1:  # zoo 0.1 networks took flat input
        header["in_shape"] = [header.pop("in_features")]
    shape = header["in_shape"]
    if not (0 < len(shape) <= MAX_AXES and all(type(n) is int and n > 0 for n in shape)):
        raise ModelFileError(f"{path}: corrupt metadata: {shape_key} = {header.get(shape_key, shape)} is not a shape")
    for key, value in (("in_shape", math.prod(shape)), ("n_classes", header["n_classes"])):
        if not 0 < value <= MAX_WIDTH:
            raise ModelFileError(f"{path}: corrupt metadata: {key} = {header[key]} is out of range")
    header["in_shape"] = tuple(shape)
    return header
