"""Bilinear resampling for the augmenters: the arithmetic of ``scipy.ndimage.map_coordinates(order=1)``
in NumPy, into reused buffers.

``map_coordinates`` spends about 45 ns a point on its general spline machinery; the same
float64 products and sums as whole-array operations take about a third of that, and give the
same bits (``tests/test_resampling.py`` compares them), so augmented batches, and the
training that reads them, are what they were with SciPy.
"""

import numpy as np

from zoo.layers import Buffers


class Bilinear:
    """Samples of a 2-D image at fractional (row, column) points, bilinear, as ``map_coordinates`` makes them.

    Each sample is ``0 + (v00·wr0)·wc0 + (v01·wr0)·wc1 + (v10·wr1)·wc0 + (v11·wr1)·wc1``, summed
    left to right in float64, with ``wr1 = r - floor(r)`` and ``wr0 = 1 - wr1`` (likewise for
    columns), rounded once to the output's type: SciPy's order of operations. Points must lie
    inside the image, and every value be finite: a neighbour beyond the last row or column
    (which has weight 0) is read from the image's last element, where SciPy's
    ``mode="nearest"`` reads its edge. Its buffers make one instance right for one thread at a time.
    """

    def __init__(self) -> None:
        self._buffers = Buffers()

    def __call__(self, image: np.ndarray, source: np.ndarray, out: np.ndarray) -> None:
        """Write into ``out`` the samples of ``image`` ``(H, W)`` at ``source`` ``(2, *out.shape)``."""
        rows, cols = source
        width = image.shape[1]
        get = self._buffers.get
        shape = out.shape
        low_row, low_col, high_row, high_col, term, total = (
            get(key, shape, np.float64) for key in ("wr0", "wc0", "wr1", "wc1", "term", "total")
        )
        index, neighbour = get("index", shape, np.intp), get("neighbour", shape, np.intp)
        values = get("values", shape, image.dtype)

        np.floor(rows, out=low_row)
        np.floor(cols, out=low_col)
        np.copyto(index, low_row, casting="unsafe")
        index *= width
        np.copyto(neighbour, low_col, casting="unsafe")
        index += neighbour  # the top-left neighbour's position in the flattened image
        np.subtract(rows, low_row, out=high_row)
        np.subtract(cols, low_col, out=high_col)
        np.subtract(1.0, high_row, out=low_row)  # now the weights of the top and left neighbours
        np.subtract(1.0, high_col, out=low_col)

        flat = image.reshape(-1)
        total.fill(0.0)
        for offset, row_weight, col_weight in (
            (0, low_row, low_col),
            (1, low_row, high_col),
            (width, high_row, low_col),
            (width + 1, high_row, high_col),
        ):
            np.add(index, offset, out=neighbour)
            np.take(flat, neighbour, out=values, mode="clip")
            np.multiply(values, row_weight, out=term)
            term *= col_weight
            total += term
        np.copyto(out, total, casting="same_kind")
