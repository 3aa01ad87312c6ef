"""Find, download, verify and parse the IDX files that MNIST-style datasets ship as.

A ``data_dir`` given explicitly (``--data-dir``) is the only place searched: it must be a
directory holding the files, directly or under the dataset's name, and nothing is downloaded.
Without one, zoo searches $ZOO_DATA, its cache and the system directory, then downloads.
"""

import gzip
import hashlib
import http.client
import math
import os
import shutil
import struct
import tempfile
import urllib.request
import zlib
from pathlib import Path

import attrs
import numpy as np

from zoo.errors import DataError, one_line

SYSTEM_DIR = Path("/usr/share/datasets")
"""Where a system administrator may install datasets for every user."""

DOWNLOAD_TIMEOUT = 30
"""Seconds to wait on a mirror's connect or read before trying the next one."""

PARTS = ("train_images", "train_labels", "test_images", "test_labels")
"""The keys of the ``files`` mapping that :func:`load_image_dataset` takes."""

_UBYTE = 0x08  # IDX type code for unsigned bytes, the only one MNIST-style sets use


@attrs.frozen
class IdxFile:
    """One file of a dataset: its stem (name without .gz) and the sha256 of its decompressed bytes."""

    name: str
    sha256: str


class DatasetNotFound(DataError):
    """A dataset's files are not where its loader looked: dataset plugins raise it for missing files,
    with a message saying where they looked and where the files should go."""


@attrs.frozen(eq=False)
class ImageData:
    """A labelled image set as stored: uint8 images ``(N, H, W)`` or ``(N, C, H, W)``, integer labels ``(N,)``
    that number the ``classes``."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: tuple[str, ...]


def cache_dir() -> Path:
    """Where downloads go: $XDG_CACHE_HOME/zoo, else ~/.cache/zoo."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says relative paths in these variables are invalid and must be ignored.
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "zoo"


def check_data_dir(data_dir: str | os.PathLike) -> Path:
    """``data_dir`` as a Path, after checking it is an existing directory (a DataError says what it is instead)."""
    path = Path(data_dir).expanduser()
    try:
        if path.is_dir():
            return path
        exists = path.exists()
    except OSError as error:
        raise DataError(f"cannot use data directory {path}: {one_line(error)}") from error
    raise DataError(f"data directory {path} is a file, not a directory" if exists else f"no data directory {path}")


def candidate_dirs(name: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Where to look for dataset `name`, most specific first: only data_dir/name and data_dir when
    data_dir is given; else $ZOO_DATA/name, $ZOO_DATA, cache_dir()/name, SYSTEM_DIR/name."""
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        return [root / name, root]
    dirs = []
    if os.environ.get("ZOO_DATA"):
        root = Path(os.environ["ZOO_DATA"]).expanduser()
        dirs += [root / name, root]
    return dirs + [cache_dir() / name, SYSTEM_DIR / name]


def read_idx(path: Path, expected_sha256: str | None = None) -> np.ndarray:
    """Parse an IDX file, gzip'd (.gz) or raw, verifying the sha256 of the decompressed bytes when given.

    The result is a read-only uint8 view of the file's bytes, so loading costs no copy.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(f"cannot read {path}: {one_line(error)}") from error
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
            raise DataError(f"{path} is not a valid gzip file or is truncated: {one_line(error)}") from error
    if expected_sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256.lower():
            raise DataError(
                f"{path} is corrupt or a different version: sha256 of its contents is {actual}, "
                f"expected {expected_sha256}; delete it and download it again"
            )
    return _parse_idx(data, path)


def _parse_idx(data: bytes, path: Path) -> np.ndarray:
    """The array an IDX buffer holds, after checking its header against the buffer's real length."""
    if len(data) < 4 or data[:2] != b"\0\0":
        raise DataError(f"{path} is not an IDX file: bad magic number 0x{data[:4].hex()}")
    type_code, ndim = data[2], data[3]
    if type_code != _UBYTE:
        raise DataError(f"{path} holds IDX type 0x{type_code:02x}; only unsigned bytes (0x08) are supported")
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataError(f"{path} has a truncated or empty IDX header ({ndim} dimensions, {len(data)} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    # Checked before touching numpy so a corrupt header cannot trigger a huge allocation.
    claimed = header + math.prod(shape)
    if claimed != len(data):
        raise DataError(
            f"{path} is corrupt: its IDX header claims shape {shape} ({claimed} bytes) but it holds {len(data)} bytes"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def load_image_dataset(
    name: str,
    files: dict[str, IdxFile],
    classes: tuple[str, ...],
    mirrors: tuple[str, ...],
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> ImageData:
    """Load dataset `name` from `files` (keyed by PARTS), each found in the first of candidate_dirs()
    that has it (gzip'd or raw), else (unless `data_dir` is given) downloaded into cache_dir()/name
    from the first mirror that serves it; every file is checked against its sha256 and image and
    label counts must agree. Missing files raise DatasetNotFound."""
    if data_dir is not None:
        data_dir = check_data_dir(data_dir)
    dirs = candidate_dirs(name, data_dir)
    paths = {part: _find(files[part].name, dirs) for part in PARTS}
    missing = [part for part in PARTS if paths[part] is None]
    if missing and data_dir is not None:
        raise _not_found_in(name, [files[p] for p in missing], dirs)
    if missing and not download:
        raise _not_found(name, [files[p] for p in missing], dirs, "downloading is turned off")
    for i, part in enumerate(missing):
        try:
            paths[part] = _download(files[part], mirrors, cache_dir() / name)
        except DataError as error:
            raise _not_found(name, [files[p] for p in missing[i:]], dirs, str(error)) from None

    arrays = {part: read_idx(paths[part], files[part].sha256) for part in PARTS}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        image_path, label_path = paths[f"{split}_images"], paths[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1:
            raise DataError(
                f"{image_path} must hold 3-D images and {label_path} 1-D labels, "
                f"but they are {images.ndim}-D and {labels.ndim}-D"
            )
        if len(images) != len(labels):
            raise DataError(f"{image_path} has {len(images)} images but {label_path} has {len(labels)} labels")
        if len(labels) and labels.max() >= len(classes):
            raise DataError(f"{label_path} has label {labels.max()} but {name} has only {len(classes)} classes")
    return ImageData(**arrays, classes=tuple(classes))


def _find(stem: str, dirs: list[Path]) -> Path | None:
    """The first `stem`.gz or `stem` in `dirs`, or None."""
    for directory in dirs:
        for path in (directory / f"{stem}.gz", directory / stem):
            try:
                if path.is_file():
                    return path
            except OSError as error:  # e.g. a directory we may not enter
                raise DataError(f"cannot search {directory}: {one_line(error)}") from error
    return None


def _download(file: IdxFile, mirrors: tuple[str, ...], directory: Path) -> Path:
    """Fetch `file` from the first mirror that serves a good copy; DataError lists every failure."""
    failures = []
    for mirror in mirrors:
        url = f"{mirror.rstrip('/')}/{file.name}.gz"
        try:
            return _fetch(url, directory / f"{file.name}.gz", file.sha256)
        except (OSError, ValueError, http.client.HTTPException, DataError) as error:
            failures.append(f"download from {url} failed ({one_line(error)})")
    raise DataError("; ".join(failures) or "no download mirrors are known")


def _fetch(url: str, dest: Path, sha256: str) -> Path:
    """Download `url` to `dest` via a temporary file beside it that is verified and then renamed,
    so an interrupted or bad download never sits under the final name."""
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
        # Created only now, so failing offline leaves no empty directories behind.
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Ends in .gz so read_idx decompresses it; the leading dot hides it from listings.
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.stem}.", suffix=".part.gz")
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(response, out)
            read_idx(Path(tmp), sha256)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return dest


def _not_found(name: str, missing: list[IdxFile], dirs: list[Path], why: str) -> DatasetNotFound:
    """The one error for files that are nowhere and were not downloaded: where we looked, why
    nothing was downloaded, and where to put the files."""
    wanted = ", ".join(f"{file.name}.gz" for file in missing)
    looked = ", ".join(str(directory) for directory in dirs)
    return DatasetNotFound(
        f"{name} files not found; looked in: {looked}; {why}; "
        f"put {wanted} (gzip'd or not) in one of those directories or set ZOO_DATA"
    )


def _not_found_in(name: str, missing: list[IdxFile], dirs: list[Path]) -> DatasetNotFound:
    """The error for files missing from the data directory the user named: the only place searched."""
    wanted = ", ".join(f"{file.name}.gz" for file in missing)
    looked = ", ".join(str(directory) for directory in dirs)
    return DatasetNotFound(
        f"{name} files not found; looked only in the data directory given: {looked}; "
        f"put {wanted} (gzip'd or not) there, or give no data directory to search $ZOO_DATA and the cache "
        "and to download"
    )
