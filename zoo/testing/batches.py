"""``check_batches``: valid indices, seeded batches, and epochs as long as ``steps_per_epoch`` says."""

import numbers
import threading
from typing import Any

import numpy as np

from zoo.catalog import Catalog
from zoo.testing.core import Subject, global_random_state_untouched

EPOCHS = 3
"""Epochs of batches drawn and checked for each number of samples."""
TIME_LIMIT = 10.0
"""Seconds the whole check may take before an iterator is taken to hang."""


def check_batches(
    name: str, options: dict[str, Any] | None = None, *, catalog: Catalog | None = None, samples: int = 1000
) -> None:
    """Check the batch schedule ``name`` made with ``options``; raise ConformanceError on the first failure.

    For ``samples`` training samples, and for a single one:

    - ``steps_per_epoch(n)`` is an integer >= 0; when it is 0, ``iterate`` ends at once instead
      of yielding (zoo then reports that the schedule makes no batch).
    - Each batch ``iterate(n, rng)`` yields is a slice or a 1-D integer array selecting at least
      one sample, every index within ``0 .. n-1``.
    - The batches of each epoch (``steps_per_epoch(n)`` of them) hold between ``n - size + 1``
      and ``n`` samples in all, ``size`` being the largest batch: an epoch is one pass over the data.
    - The same seed gives the same batches; numpy's global random state is untouched.
    - It yields the first three epochs within ten seconds (an iterator that never yields fails).
    """
    subject = Subject.resolve("batches", name, options, catalog)
    with global_random_state_untouched(subject, "the random state check"):
        _within_time_limit(subject, lambda: [_check_epochs(subject, n) for n in (samples, 1)])


def _within_time_limit(subject: Subject, work) -> None:
    """Run ``work()`` in a thread; fail if it takes longer than :data:`TIME_LIMIT` (it is then left running)."""
    outcome: list = []

    def run():
        try:
            work()
            outcome.append(None)
        except BaseException as error:  # handed to the caller's thread
            outcome.append(error)

    worker = threading.Thread(target=run, name="zoo.testing batches", daemon=True)
    worker.start()
    worker.join(TIME_LIMIT)
    if not outcome:
        raise subject.fail("the batch check", f"iterate() yielded no batch (or epochs) within {TIME_LIMIT:g} seconds")
    if outcome[0] is not None:
        raise outcome[0]


def _indices(subject: Subject, check: str, batch: object, n: int) -> np.ndarray:
    """The sample indices ``batch`` selects, after checking it is a valid selection from ``n`` samples."""
    if isinstance(batch, slice):
        bounds = [b for b in (batch.start, batch.stop) if b is not None]
        if any(not isinstance(b, numbers.Integral) or not 0 <= b <= n for b in bounds) or batch.step not in (None, 1):
            raise subject.fail(check, f"batch {batch} is not a slice within 0..{n} with step 1")
        indices = np.arange(*batch.indices(n))
    elif not (isinstance(batch, np.ndarray) and batch.ndim == 1 and np.issubdtype(batch.dtype, np.integer)):
        raise subject.fail(check, f"batch {batch!r} is neither a slice nor a 1-D integer index array")
    elif len(batch) and (batch.min() < 0 or batch.max() >= n):
        raise subject.fail(check, f"batch indices reach {batch.min()}..{batch.max()}, outside 0..{n - 1}")
    else:
        indices = batch.copy()  # the schedule may reuse its array
    if len(indices) == 0:
        raise subject.fail(check, f"it yielded an empty batch ({batch!r})")
    return indices


def _check_epochs(subject: Subject, n: int) -> None:
    check = f"the batch check ({n} samples)"
    per_epoch = subject.make().steps_per_epoch(n)
    if not isinstance(per_epoch, numbers.Integral) or isinstance(per_epoch, bool) or per_epoch < 0:
        raise subject.fail(check, f"steps_per_epoch({n}) returned {per_epoch!r}, not an integer >= 0")
    if per_epoch == 0:
        batch = next(iter(subject.make().iterate(n, np.random.default_rng(0))), None)
        if batch is not None:
            raise subject.fail(check, f"steps_per_epoch({n}) is 0, yet iterate() yielded {batch!r}")
        return

    def epochs(seed: int) -> list[np.ndarray]:
        iterator = subject.make().iterate(n, np.random.default_rng(seed))
        return [_indices(subject, check, batch, n) for _, batch in zip(range(EPOCHS * per_epoch), iterator)]

    first = epochs(5)
    if len(first) < EPOCHS * per_epoch:
        raise subject.fail(check, f"iterate() stopped after {len(first)} batches; it must not end by itself")
    largest = max(len(batch) for batch in first)
    for epoch in range(EPOCHS):
        total = sum(len(batch) for batch in first[epoch * per_epoch : (epoch + 1) * per_epoch])
        if not n - largest < total <= n:
            raise subject.fail(
                check,
                f"epoch {epoch + 1} ({per_epoch} steps, as steps_per_epoch({n}) says) holds {total} samples; "
                f"one pass over {n} samples in batches of up to {largest} holds {n - largest + 1}..{n}",
            )
    again = epochs(5)
    if any(not np.array_equal(a, b) for a, b in zip(first, again)):
        raise subject.fail(check, "two iterations from the same seed give different batches")
