"""SciPy's bundled OpenBLAS held to one thread while zoo trains.

zoo calls SciPy's BLAS only for dense layers on one sample (``gemv`` and ``ger``, see
plugins/layers.py); NumPy's own OpenBLAS does every batched product and is left alone. On one
sample, waking a second BLAS thread costs more than it gains: on the 2-core machine, 20000-step
runs of seed 004's online SGD took 118-128 µs per step with SciPy's pool at one thread and
125-187 µs at two, with stretches of several-fold stalls (2026-12-02).
"""

import contextlib
import ctypes
import functools
import glob
import os
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_held = 0
"""How many blocks hold the pool at one thread now."""
_before = 1
"""The thread count the first of them found, restored when the last one leaves."""


@contextlib.contextmanager
def scipy_blas_single_threaded() -> Iterator[None]:
    """Run the block with SciPy's OpenBLAS on one thread, then restore its thread count.

    A no-op where SciPy's BLAS is not its bundled OpenBLAS (a system or Accelerate build), whose
    threads zoo does not know how to reach. The setting is process-wide, as OpenBLAS's is: blocks
    that overlap (trainings in several threads) hold it together, and the last to leave restores it.
    """
    controls = _controls()
    if controls is None:
        yield
        return
    global _held, _before
    get, set_ = controls
    with _lock:
        if not _held:
            _before = get()
            set_(1)
        _held += 1
    try:
        yield
    finally:
        with _lock:
            _held -= 1
            if not _held:
                set_(_before)


def scipy_blas_threads() -> int | None:
    """The thread count of SciPy's bundled OpenBLAS, or None where there is none to reach."""
    controls = _controls()
    return None if controls is None else controls[0]()


@functools.cache
def _controls():
    """``(get_num_threads, set_num_threads)`` of SciPy's bundled OpenBLAS (wheels name it libscipy_openblas)."""
    import scipy
    import scipy.linalg.blas  # noqa: F401  loads the library, so CDLL below finds the same copy

    root = os.path.dirname(scipy.__file__)
    paths = sorted(glob.glob(os.path.join(root, os.pardir, "scipy.libs", "libscipy_openblas*")))
    paths += sorted(glob.glob(os.path.join(root, ".dylibs", "libscipy_openblas*")))
    for path in paths:
        try:
            library = ctypes.CDLL(path)
            get, set_ = library.scipy_openblas_get_num_threads, library.scipy_openblas_set_num_threads
        except (OSError, AttributeError):
            continue
        get.restype, get.argtypes = ctypes.c_int, []
        set_.restype, set_.argtypes = None, [ctypes.c_int]
        return get, set_
    return None
