"""How many cores zoo's own threads may use: the process's, or fewer when BLAS is held to fewer threads.

``OPENBLAS_NUM_THREADS`` and its kin are how a user, or zoo's own sweep executors, keep a training
on one core (trials side by side each get one); zoo's threads follow the same setting.
"""

import os

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def blas_thread_limit() -> int | None:
    """The fewest threads the BLAS thread variables allow, or None when none is set to a positive number."""
    limits = [int(value) for name in THREAD_VARIABLES if (value := os.environ.get(name, "")).isdigit()]
    limits = [limit for limit in limits if limit > 0]
    return min(limits) if limits else None


def compute_threads() -> int:
    """Threads for zoo's own parallel compute: the cores, capped by the BLAS thread variables."""
    limit = blas_thread_limit()
    return cores() if limit is None else min(cores(), limit)
