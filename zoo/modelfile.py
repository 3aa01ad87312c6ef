"""Model files: ``.npz`` archives of plain arrays plus the entry and metadata as JSON. Never pickled.

Layout: one array per parameter (``layers.0.W``, ...) and ``__zoo__``, a uint8 array
holding UTF-8 JSON with the format name and version, the entry's TOML table, the seed
and the metrics. Loading uses ``allow_pickle=False`` and checks every array's name,
shape and dtype against the network the stored entry builds.
"""

import json
import os
import secrets
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

import zoo
from zoo.catalog import Catalog
from zoo.config import ModelEntry
from zoo.errors import ModelFileError, ZooError, one_line
from zoo.network import Network, build_network

FORMAT = "zoo-model"
FORMAT_VERSION = 1
META_KEY = "__zoo__"
MAX_WIDTH = 1 << 24
"""Largest input or class count a header may claim: a corrupt one must not make zoo allocate gigabytes."""


def save(
    path: str | os.PathLike,
    network: Network,
    entry: ModelEntry,
    *,
    in_features: int,
    n_classes: int,
    meta: dict[str, Any],
) -> Path:
    """Write the model atomically: a temporary file in the same directory, fsynced, then renamed over ``path``."""
    path = Path(path)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "zoo_version": zoo.__version__,
        "name": entry.name,
        "entry": entry.table,
        "in_features": in_features,
        "n_classes": n_classes,
        "meta": meta,
    }
    arrays = dict(network.state())
    arrays[META_KEY] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        # O_EXCL: never write through someone else's file; mode 0o666 less the umask, like any new file.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(descriptor, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
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
    if path.is_file() and not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a zoo model file (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ModelFileError(f"{path}: not a readable zoo model file ({one_line(error)})") from None
    header = _header(path, arrays.pop(META_KEY, None))
    try:
        entry = ModelEntry.from_table(header["name"], header["entry"], f"{path} (stored entry)", catalog)
        network = build_network(entry, catalog, header["in_features"], header["n_classes"], np.random.SeedSequence(0))
    except ZooError as error:
        raise ModelFileError(f"{path}: the stored model cannot be rebuilt: {error}") from None
    expected = {name: p.value for name, p in zip(network.param_names, network.params)}
    if set(arrays) != set(expected):
        raise ModelFileError(
            f"{path}: arrays {sorted(arrays)} do not match the stored entry's parameters {sorted(expected)}"
        )
    for name, value in expected.items():
        if arrays[name].shape != value.shape or arrays[name].dtype != value.dtype:
            raise ModelFileError(
                f"{path}: array {name} is {arrays[name].dtype}{list(arrays[name].shape)}, "
                f"expected {value.dtype}{list(value.shape)}"
            )
    network.load_state(arrays)
    return network, entry, header["meta"]


def _header(path: Path, raw: np.ndarray | None) -> dict[str, Any]:
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError(f"{path}: not a zoo model file (no {META_KEY} metadata)")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{path}: corrupt metadata ({one_line(error)})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a zoo model file")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format version {version!r} is newer than this zoo reads ({FORMAT_VERSION}); upgrade zoo"
        )
    fields = {"name": str, "entry": dict, "in_features": int, "n_classes": int, "meta": dict}
    for key, kind in fields.items():
        if type(header.get(key)) is not kind:
            raise ModelFileError(f"{path}: corrupt metadata: {key} missing or not {kind.__name__}")
    for key in ("in_features", "n_classes"):
        if not 0 < header[key] <= MAX_WIDTH:
            raise ModelFileError(f"{path}: corrupt metadata: {key} = {header[key]} is out of range")
    return header
