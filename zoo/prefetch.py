"""Feeding training batches in order, the next one made in a background thread while a step trains.

Augmenting a batch (NumPy work, which releases the GIL in its loops) costs a quarter of the best
MLP's step; made ahead it overlaps the step's matrix products. Batches, and every draw
from the augment generator, are the same as when made one by one in the loop.
"""

import queue
import threading

import numpy as np

from zoo.batching import BatchMaker
from zoo.cores import blas_thread_limit, cores
from zoo.errors import PluginError
from zoo.layers import Buffers

UNNAMED_SOURCE = "the batch order"
"""What a bad batch index is blamed on when the caller names no plugin."""


def batch_feed(
    maker: BatchMaker, labels: np.ndarray, indices, count: int, source: str = UNNAMED_SOURCE
) -> "Batches | PrefetchedBatches":
    """The next ``count`` batches of ``indices`` (an iterator of slices or index arrays): images as ``maker``
    makes them, and their ``labels``.

    Augmented batches are made ahead when BLAS leaves a core for the thread (:func:`core_to_spare`);
    without augmenters there is nothing worth overlapping, and the plain feed keeps the maker's
    reuse of an unchanged full batch. Both feeds give the same batches. An index outside the
    samples is a PluginError naming ``source``, the plugin that gave it.
    """
    ahead = maker.augmenters and core_to_spare()
    return (PrefetchedBatches if ahead else Batches)(maker, labels, indices, count, source)


def _refuse_outside(index, n: int, source: str, error: IndexError) -> None:
    """Raise a PluginError naming ``source`` if the batch ``index`` reaches outside ``0 .. n-1``.

    Only asked after making a batch raised ``error``: checking every step's index would cost
    two reductions a step, a tenth of a one-sample step. A slice cannot reach outside (it is clipped).
    """
    if isinstance(index, slice):
        return
    index = np.asarray(index)
    bad = index[(index < 0) | (index >= n)]
    if bad.size:
        raise PluginError(
            f"{source} gave the batch index {bad[0]}, outside 0..{n - 1}: each index picks one of the {n} "
            "training samples"
        ) from error


def core_to_spare() -> bool:
    """Whether BLAS is limited to fewer threads than this process has cores (``OPENBLAS_NUM_THREADS`` and kin).

    With BLAS on every core (OpenBLAS's default), a prefetching thread made the best MLP 8-10 %
    slower on 2 cores (its products wait for a descheduled BLAS thread); with one BLAS thread it
    made it 1.24-1.27x faster (benchmarks/prefetch.py, 2026-12-02).
    """
    limit = blas_thread_limit()
    return limit is not None and limit < cores()


class Batches:
    """Each batch made when asked for, by :meth:`take`; a context manager like :class:`PrefetchedBatches`."""

    def __init__(self, maker: BatchMaker, labels: np.ndarray, indices, count: int, source: str = UNNAMED_SOURCE):
        self._maker, self._labels, self._indices, self._source = maker, labels, indices, source

    def take(self) -> tuple[np.ndarray, np.ndarray]:
        """The next ``(images, labels)``."""
        index = next(self._indices)
        try:
            return self._maker.make(index), self._labels[index]
        except IndexError as error:
            _refuse_outside(index, len(self._labels), self._source, error)
            raise

    def augment_state(self) -> dict:
        """The augment generator's ``bit_generator.state`` before the batch the next :meth:`take` returns."""
        return self._maker.rng.bit_generator.state

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


class PrefetchedBatches:
    """Batch s+1 made in a background thread while the caller trains on batch s, for ``count`` batches.

    The thread makes one batch at a time, in order, and the generator is read only while it is idle,
    so the draws are those of :class:`Batches`. Each batch is copied into one of two buffers in turn:
    the network may still hold batch s while s+1 is made, and augmenters may return a buffer they reuse.
    An error in the thread (or in ``indices``) is raised by the :meth:`take` that would have hit it
    without prefetching. Use as a context manager: leaving it stops and joins the thread.
    """

    def __init__(self, maker: BatchMaker, labels: np.ndarray, indices, count: int, source: str = UNNAMED_SOURCE):
        self._maker, self._labels, self._indices, self._left, self._source = maker, labels, indices, count, source
        self._slots, self._turn = (Buffers(), Buffers()), 0
        self._requests, self._results = queue.SimpleQueue(), queue.SimpleQueue()
        self._next: tuple | None = None  # (index, generator state before its batch) of the batch in the making
        self._failed: Exception | None = None  # raised drawing the next index
        self._thread = threading.Thread(target=self._work, name="zoo-prefetch", daemon=True)

    def __enter__(self):
        self._thread.start()
        self._submit()
        return self

    def __exit__(self, *exc) -> None:
        self._requests.put(None)
        self._thread.join()

    def take(self) -> tuple[np.ndarray, np.ndarray]:
        """The next ``(images, labels)``; the batch after starts being made before this returns."""
        if self._failed is not None:
            raise self._failed
        if self._next is None:  # rather than wait forever for a batch never asked for
            raise RuntimeError("every batch of the feed has been taken")
        batch, error = self._results.get()
        index = self._next[0]
        try:
            if error is not None:
                raise error
            labels = self._labels[index]
        except IndexError as error:
            _refuse_outside(index, len(self._labels), self._source, error)
            raise
        self._submit()  # drops the index first: a new epoch's permutation need not live beside the old one
        return batch, labels

    def augment_state(self) -> dict:
        """The augment generator's ``bit_generator.state`` before the batch the next :meth:`take` returns."""
        return self._next[1] if self._next else self._maker.rng.bit_generator.state

    def _submit(self) -> None:
        self._next = None
        if not self._left:
            return
        self._left -= 1
        try:
            index = next(self._indices)
        except Exception as error:  # raised by take(), where the loop would have drawn this index
            self._failed = error
            return
        self._next = index, self._maker.rng.bit_generator.state
        self._requests.put((index, self._slots[self._turn]))
        self._turn ^= 1

    def _work(self) -> None:
        while (request := self._requests.get()) is not None:
            index, slot = request
            try:
                batch = self._maker.make(index)
                if isinstance(batch, np.ndarray):  # anything else reaches the network as it would unprefetched
                    np.copyto(own := slot.get("batch", batch.shape, batch.dtype), batch)
                    batch = own
            except BaseException as error:
                self._results.put((None, error))
                return
            self._results.put((batch, None))
