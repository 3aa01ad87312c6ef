"""Built-in batch schedules: the four ways the seed notebooks fed their networks.

Each yields, step after step without end, the training samples of the next batch as a
slice (contiguous, copied without gathering) or an index array; the trainer decides when to stop.
"""

import attrs

import zoo
from zoo.options import boolean, number

_size = number(integer=True, gt=0)


@attrs.frozen
class FullBatch:
    """Every step uses the whole training set (seeds 001 and 002)."""

    def steps_per_epoch(self, n):
        return 1

    def iterate(self, n, rng):
        while True:
            yield slice(0, n)


@attrs.frozen
class RandomSample:
    """Each step draws ``size`` samples without replacement, independently of other steps (seed 000)."""

    size: int = attrs.field(validator=_size)

    def steps_per_epoch(self, n):
        return max(1, n // self.size)

    def iterate(self, n, rng):
        size = min(self.size, n)
        while True:
            yield rng.choice(n, size=size, replace=False)


@attrs.frozen
class Shuffled:
    """Mini-batches of ``size`` from a fresh permutation each epoch (seed 003).

    ``drop_last`` skips the short final batch, as seed 003 did.
    """

    size: int = attrs.field(validator=_size)
    drop_last: bool = attrs.field(default=False, validator=boolean)

    def steps_per_epoch(self, n):
        return n // self.size if self.drop_last else -(-n // self.size)

    def iterate(self, n, rng):
        stop = n - self.size + 1 if self.drop_last else n
        while stop > 0:
            order = rng.permutation(n)
            for start in range(0, stop, self.size):
                yield order[start : start + self.size]


@attrs.frozen
class Sequential:
    """Batches of ``size`` in dataset order, the same every epoch; ``size = 1`` is seed 004's online SGD."""

    size: int = attrs.field(default=1, validator=_size)

    def steps_per_epoch(self, n):
        return -(-n // self.size)

    def iterate(self, n, rng):
        while True:
            for start in range(0, n, self.size):
                yield slice(start, min(start + self.size, n))


@zoo.hookimpl
def register_batches(register):
    register("full_batch", FullBatch)
    register("random_sample", RandomSample)
    register("shuffled", Shuffled)
    register("sequential", Sequential)
