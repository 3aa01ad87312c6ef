"""Turning stored uint8 images into float training batches: gather, scale to [0, 1], augment."""

import numpy as np

from zoo.layers import Buffers


class BatchMaker:
    """Makes float batches ``(B, H, W)`` (or ``(B, C, H, W)``) from uint8 images of that shape into reused buffers.

    The dataset stays uint8 (a quarter of the memory of float32) and each batch is
    converted on the way in. Without augmenters, a batch identical to the previous
    one (full-batch training) is not converted again. Given ``sample_shape`` (a network's
    ``in_shape``, as many values as an image), batches come in that shape: ``(B, 1, H, W)``
    for ``(H, W)`` images, a view made once per buffer rather than by the network every step.
    """

    def __init__(
        self,
        images: np.ndarray,
        dtype: np.dtype,
        augmenters=(),
        rng: np.random.Generator | None = None,
        sample_shape: tuple[int, ...] | None = None,
    ):
        self.images, self.dtype, self.augmenters, self.rng = images, np.dtype(dtype), list(augmenters), rng
        self.sample_shape = tuple(sample_shape) if sample_shape is not None else tuple(images.shape[1:])
        self._scale = self.dtype.type(1.0 / 255.0)
        self._buffers = Buffers()
        self._last: tuple | None = None
        self._shaped: tuple = (None, None)  # (a batch made, that batch in sample_shape)

    def make(self, index: slice | np.ndarray) -> np.ndarray:
        shape = self.images.shape[1:]
        if isinstance(index, slice):
            key = (index.start, index.stop, index.step)
            if not self.augmenters and key == self._last:
                return self._batch
            raw = self.images[index]
        else:
            key = None
            if len(index) == 1:  # one sample (online SGD): cast straight from the image, without a gather
                batch = self._buffers.get("batch", (1, *shape), self.dtype)
                np.copyto(batch, self.images[index[0]])
                return self._finish(batch, key)
            # mode="wrap" gathers straight into the buffer ("raise" would gather into a temporary copy
            # first) and reads negative indices as ordinary indexing does, as the labels are read.
            raw = self._buffers.get("raw", (len(index), *shape), np.uint8)
            np.take(self.images, index, axis=0, out=raw, mode="wrap")
        # Cast, then scale in place: a casting multiply would allocate numpy's conversion buffers each step.
        batch = self._buffers.get("batch", raw.shape, self.dtype)
        np.copyto(batch, raw)
        return self._finish(batch, key)

    def _finish(self, batch: np.ndarray, key: tuple | None) -> np.ndarray:
        """Scale the cast ``batch`` to [0, 1], augment it, and hand it out in ``sample_shape``."""
        batch *= self._scale
        for augment in self.augmenters:
            batch = augment(batch, self.rng)
        if batch.shape[1:] != self.sample_shape:
            made, shaped = self._shaped
            if batch is not made:  # the same buffer as last step keeps its view
                shaped = batch.reshape((len(batch), *self.sample_shape))
                self._shaped = batch, shaped
            batch = shaped
        self._last, self._batch = key, batch
        return batch
