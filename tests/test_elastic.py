"""The elastic augmenter: Simard et al.'s smoothed random displacement fields, for a whole batch at once.

Its displacement field is read back through ramp images: bilinear sampling of ``f(r, c) = c``
at ``(r + dr, c + dc)`` returns ``c + dc`` exactly, so ``output - ramp`` is the column field
(and a row ramp gives the row field) wherever the sampled points stay inside the image.
"""

import numpy as np
import pytest
from scipy import ndimage
from zoo_builtins.resampling import Bilinear

from zoo.errors import ConfigError
from zoo.loading import default_catalog

CATALOG = default_catalog()
H = W = 28
CENTRE = slice(8, 20)  # pixels whose sampled points stay inside the image at the alphas below


def elastic(**options):
    return CATALOG.create("augmenter", "elastic", options, "augment.0")


def displacements(augment, n, seed):
    """The (rows, columns) displacement fields ``(N, H, W)`` each that ``augment`` applies with ``seed``."""
    rows = np.broadcast_to(np.arange(H, dtype=np.float64)[:, None] / H, (n, H, W)).copy()
    cols = np.broadcast_to(np.arange(W, dtype=np.float64)[None, :] / W, (n, H, W)).copy()
    dr = augment(rows, np.random.default_rng(seed)) * H - np.arange(H)[:, None]
    dc = augment(cols, np.random.default_rng(seed)) * W - np.arange(W)[None, :]
    return dr[:, CENTRE, CENTRE], dc[:, CENTRE, CENTRE]


def test_field_is_smoothed_uniform_noise_scaled_by_alpha():
    """Per image, uniform noise in [-1, 1], Gaussian-smoothed with std sigma (zeros outside), times alpha."""
    n, alpha, sigma, seed = 6, 34.0, 4.0, 3
    dr, dc = displacements(elastic(alpha=alpha, sigma=sigma), n, seed)
    noise = np.random.default_rng(seed).random((2 * n, H, W)) * 2 - 1
    field = alpha * ndimage.gaussian_filter(noise, (0, sigma, sigma), mode="constant")
    np.testing.assert_allclose(dr, field[:n, CENTRE, CENTRE], atol=1e-9)
    np.testing.assert_allclose(dc, field[n:, CENTRE, CENTRE], atol=1e-9)


def test_displacement_grows_with_alpha():
    """The same draw scaled: twice alpha moves every pixel twice as far; Simard's 34 moves them about 1.4 px."""
    small = np.concatenate(displacements(elastic(alpha=10.0), 100, seed=1))
    large = np.concatenate(displacements(elastic(alpha=20.0), 100, seed=1))
    np.testing.assert_allclose(large, 2 * small, atol=1e-9)
    assert np.abs(small).mean() > 0.1
    # Smoothed noise of variance 1/3 has standard deviation 1 / (sigma·sqrt(12π)) away from the border.
    simard = np.concatenate(displacements(elastic(alpha=34.0, sigma=4.0), 200, seed=2))
    expected = 34.0 / (4.0 * np.sqrt(12 * np.pi))
    assert 0.8 * expected < simard.std() < 1.2 * expected


def test_sigma_sets_smoothness():
    """Neighbouring pixels move together under a wide Gaussian, nearly independently under a narrow one."""

    def neighbour_correlation(sigma):
        _, dc = displacements(elastic(alpha=5.0, sigma=sigma), 100, seed=4)
        return np.corrcoef(dc[:, :, :-1].ravel(), dc[:, :, 1:].ravel())[0, 1]

    assert neighbour_correlation(4.0) > 0.95
    assert neighbour_correlation(0.3) < 0.3


@pytest.mark.parametrize("n", [1, 5])
def test_zero_alpha_is_identity(n):
    images = np.random.default_rng(5).random((n, H, W)).astype(np.float32)
    np.testing.assert_array_equal(elastic(alpha=0.0)(images.copy(), np.random.default_rng(6)), images)


def test_whole_batch_in_one_resampling(monkeypatch):
    """One resampling call per batch, whatever its size, and every image its own field."""
    calls = []
    original = Bilinear.__call__
    monkeypatch.setattr(Bilinear, "__call__", lambda *args: calls.append(1) or original(*args))
    augment = elastic()
    same = np.repeat(np.random.default_rng(7).random((1, H, W)), 64, axis=0)
    out = augment(same, np.random.default_rng(8))
    assert len(calls) == 1
    assert len({image.tobytes() for image in out}) == 64


def test_seeded():
    images = np.random.default_rng(9).random((10, H, W)).astype(np.float32)
    first = elastic()(images, np.random.default_rng(10)).copy()
    np.testing.assert_array_equal(elastic()(images, np.random.default_rng(10)), first)
    assert not np.array_equal(elastic()(images, np.random.default_rng(11)), first)


@pytest.mark.parametrize(
    "options, message",
    [({"alpha": -1.0}, "'alpha' must be a finite number >= 0"), ({"sigma": 0}, "'sigma' must be a finite number > 0")],
)
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        elastic(**options)
