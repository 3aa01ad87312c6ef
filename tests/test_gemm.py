"""zoo.gemm.add_product: ``c += alpha·(a @ b)`` in place through NumPy's bundled OpenBLAS, or False."""

import numpy as np
import pytest

from zoo import gemm

needs_gemm = pytest.mark.skipif(not gemm._gemms(), reason="NumPy has no bundled OpenBLAS")


def operands(dtype, a_order, b_order, m=7, k=5, n=3):
    rng = np.random.default_rng(0)
    a = np.asarray(rng.standard_normal((m, k)), dtype=dtype, order=a_order)
    b = np.asarray(rng.standard_normal((k, n)), dtype=dtype, order=b_order)
    return a, b, rng.standard_normal((m, n)).astype(dtype)


@needs_gemm
@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 1e-6), (np.float64, 1e-14)])
@pytest.mark.parametrize("a_order", ["C", "F"])
@pytest.mark.parametrize("b_order", ["C", "F"])
def test_adds_the_scaled_product_in_place_for_either_layout(dtype, tolerance, a_order, b_order):
    a, b, c = operands(dtype, a_order, b_order)
    want = c.astype(np.float64) - 0.3 * (a.astype(np.float64) @ b.astype(np.float64))
    target = c
    assert gemm.add_product(c, -0.3, a, b)
    assert c is target and c.dtype == dtype
    np.testing.assert_allclose(c, want, rtol=tolerance, atol=tolerance)


@needs_gemm
def test_a_transposed_view_is_taken_as_it_is():
    """A dense layer passes ``x.T``, an F-ordered view: no copy, the same sum as with a copy."""
    a, b, c = operands(np.float32, "C", "C", m=4, k=6, n=5)
    x = np.ascontiguousarray(a.T)  # (k, m) C-ordered, as a batch of inputs
    copied = c.copy()
    assert gemm.add_product(c, 0.5, x.T, b) and gemm.add_product(copied, 0.5, np.ascontiguousarray(x.T), b)
    np.testing.assert_array_equal(c, copied)


@pytest.mark.parametrize(
    "case",
    ["strided a", "strided b", "F-ordered c", "read-only c", "integer arrays", "mixed dtypes"],
)
def test_declines_without_touching_c_where_gemm_cannot_add_into_it(case):
    a, b, c = operands(np.float32, "C", "C")
    if case == "strided a":
        a = np.repeat(a, 2, axis=1)[:, ::2]
    elif case == "strided b":
        b = np.repeat(b, 2, axis=0)[::2]
    elif case == "F-ordered c":
        c = np.asfortranarray(c)
    elif case == "read-only c":
        c.flags.writeable = False
    elif case == "integer arrays":
        a, b, c = (array.astype(np.int32) for array in (a, b, c))
    elif case == "mixed dtypes":
        b = b.astype(np.float64)
    before = c.copy()
    assert gemm.add_product(c, 1.0, a, b) is False
    np.testing.assert_array_equal(c, before)


def test_declines_where_numpy_has_no_bundled_openblas(monkeypatch):
    monkeypatch.setattr(gemm, "_gemms", lambda: {})
    a, b, c = operands(np.float32, "C", "C")
    assert gemm.add_product(c, 1.0, a, b) is False


def test_shapes_that_do_not_multiply_are_an_error():
    a, b, c = operands(np.float32, "C", "C")
    with pytest.raises(ValueError, match=r"shapes \(7, 3\) \+= \(7, 5\) @ \(3, 5\) do not match"):
        gemm.add_product(c, 1.0, a, b.T)


@needs_gemm
def test_an_empty_product_leaves_c_as_it_was():
    a, b, c = operands(np.float32, "C", "C", k=0)
    before = c.copy()
    assert gemm.add_product(c, 1.0, a, b)
    np.testing.assert_array_equal(c, before)
