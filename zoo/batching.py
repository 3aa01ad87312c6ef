"""Turning stored uint8 images into float training batches: gather, scale to [0, 1], augment."""

import numpy as np

from zoo.layers import Buffers


class BatchMaker:
    """Makes float batches ``(B, H, W)`` (or ``(B, C, H, W)``) from uint8 images of that shape into reused buffers.

    The dataset stays uint8 (a quarter of the memory of float32) and each batch is
    converted on the way in. Without augmenters, a batch identical to the previous
    one (full-batch training) is not converted again.
    """

    def __init__(self, images: np.ndarray, dtype: np.dtype, augmenters=(), rng: np.random.Generator | None = None):
        self.images, self.dtype, self.augmenters, self.rng = images, np.dtype(dtype), list(augmenters), rng
        self._scale = self.dtype.type(1.0 / 255.0)
        self._buffers = Buffers()
        self._last: tuple | None = None

    def make(self, index: slice | np.ndarray) -> np.ndarray:
        shape = self.images.shape[1:]
        if isinstance(index, slice):
            key = (index.start, index.stop, index.step)
            if not self.augmenters and key == self._last:
                return self._batch
            raw = self.images[index]
        else:
            key = None
            # mode="wrap" gathers straight into the buffer ("raise" would gather into a temporary copy
            # first) and reads negative indices as ordinary indexing does, as the labels are read.
            raw = self._buffers.get("raw", (len(index), *shape), np.uint8)
            np.take(self.images, index, axis=0, out=raw, mode="wrap")
        # Cast, then scale in place: a casting multiply would allocate numpy's conversion buffers each step.
        batch = self._buffers.get("batch", raw.shape, self.dtype)
        np.copyto(batch, raw)
        batch *= self._scale
        for augment in self.augmenters:
            batch = augment(batch, self.rng)
        self._last, self._batch = key, batch
        return self._batch
