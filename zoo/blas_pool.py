"""The thread counts of the OpenBLAS copies bundled with SciPy and NumPy, held at one while zoo trains.

zoo calls SciPy's BLAS only for dense layers on one sample (``gemv`` and ``ger``, see
plugins/layers.py); NumPy's own OpenBLAS does every batched product. On one sample, waking a
second BLAS thread costs more than it gains: on the 2-core machine, 20000-step runs of seed
004's online SGD took 118-128 µs per step with SciPy's pool at one thread and 125-187 µs at
two, with stretches of several-fold stalls (2026-12-02). NumPy's pool is held at one thread
only for networks whose layers run threads of their own (see :func:`numpy_blas_single_threaded`).
"""

import contextlib
import ctypes
import functools
import glob
import os
import threading
from collections.abc import Iterator


class _Pool:
    """The thread count of one bundled OpenBLAS, held at one by overlapping blocks until the last leaves."""

    def __init__(self, find) -> None:
        self._find = find  # () -> (get_num_threads, set_num_threads) or None, looked up on first use
        self._lock = threading.Lock()
        self._held = 0  # how many blocks hold the pool at one thread now
        self._before = 1  # the thread count the first of them found, restored when the last one leaves

    @contextlib.contextmanager
    def single_threaded(self) -> Iterator[None]:
        controls = self._find()
        if controls is None:
            yield
            return
        get, set_ = controls
        with self._lock:
            if not self._held:
                self._before = get()
                set_(1)
            self._held += 1
        try:
            yield
        finally:
            with self._lock:
                self._held -= 1
                if not self._held:
                    set_(self._before)

    def threads(self) -> int | None:
        controls = self._find()
        return None if controls is None else controls[0]()


def _openblas(package_root: str, folders: tuple[str, ...], prefix: str, suffixes: tuple[str, ...]):
    """``(library, suffix)``: the OpenBLAS bundled in ``folders`` beside ``package_root`` and the
    suffix its symbols carry (NumPy's 64-bit-integer build names them ``..._64_``), or None."""
    paths = [path for folder in folders for path in sorted(glob.glob(os.path.join(package_root, folder, prefix)))]
    for path in paths:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for suffix in suffixes:
            if hasattr(library, f"scipy_openblas_get_num_threads{suffix}"):
                return library, suffix
    return None


def _thread_controls(found):
    """``(get_num_threads, set_num_threads)`` of a library :func:`_openblas` found, or None."""
    if found is None:
        return None
    library, suffix = found
    get = getattr(library, f"scipy_openblas_get_num_threads{suffix}", None)
    set_ = getattr(library, f"scipy_openblas_set_num_threads{suffix}", None)
    if get is None or set_ is None:
        return None
    get.restype, get.argtypes = ctypes.c_int, []
    set_.restype, set_.argtypes = None, [ctypes.c_int]
    return get, set_


@functools.cache
def _controls():
    """``(get_num_threads, set_num_threads)`` of SciPy's bundled OpenBLAS (wheels name it libscipy_openblas)."""
    import scipy
    import scipy.linalg.blas  # noqa: F401  loads the library, so CDLL below finds the same copy

    root = os.path.dirname(scipy.__file__)
    return _thread_controls(
        _openblas(root, (os.path.join(os.pardir, "scipy.libs"), ".dylibs"), "libscipy_openblas*", ("",))
    )


@functools.cache
def numpy_openblas():
    """``(library, suffix)`` of NumPy's bundled OpenBLAS (``numpy.libs/libscipy_openblas64_*``), the
    library numpy.matmul calls, or None where NumPy is built on another BLAS."""
    import numpy

    root = os.path.dirname(numpy.__file__)
    return _openblas(root, (os.path.join(os.pardir, "numpy.libs"), ".dylibs"), "libscipy_openblas*", ("64_", ""))


@functools.cache
def _numpy_controls():
    """The same for NumPy's bundled OpenBLAS."""
    return _thread_controls(numpy_openblas())


_scipy_pool, _numpy_pool = _Pool(_controls), _Pool(_numpy_controls)


def scipy_blas_single_threaded():
    """Run the block with SciPy's OpenBLAS on one thread, then restore its thread count.

    A no-op where SciPy's BLAS is not its bundled OpenBLAS (a system or Accelerate build), whose
    threads zoo does not know how to reach. The setting is process-wide, as OpenBLAS's is: blocks
    that overlap (trainings in several threads) hold it together, and the last to leave restores it.
    """
    return _scipy_pool.single_threaded()


def scipy_blas_threads() -> int | None:
    """The thread count of SciPy's bundled OpenBLAS, or None where there is none to reach."""
    return _scipy_pool.threads()


def numpy_blas_single_threaded():
    """As :func:`scipy_blas_single_threaded`, for NumPy's bundled OpenBLAS.

    For networks whose layers run their own threads (conv2d splits a batch's chunks over the
    cores): OpenBLAS's idle threads spin for a core long after a threaded product, so the
    layer's second thread would find its core taken.
    """
    return _numpy_pool.single_threaded()


def numpy_blas_single_threaded_for(network) -> contextlib.AbstractContextManager:
    """:func:`numpy_blas_single_threaded` for a network whose layers run threads of their own
    (``network.runs_threads``), else nothing: training and evaluation both hold it."""
    return numpy_blas_single_threaded() if network.runs_threads else contextlib.nullcontext()


def numpy_blas_threads() -> int | None:
    """The thread count of NumPy's bundled OpenBLAS, or None where there is none to reach."""
    return _numpy_pool.threads()
