"""``check_augmenter``: shape, dtype and range kept, input left alone, seeded, and digits still read as themselves."""

from typing import Any

import numpy as np

from zoo.catalog import Catalog
from zoo.testing import digits as digit_images
from zoo.testing.core import Subject, global_random_state_untouched

KEPT = 0.8
"""The classifier must get at least this fraction of its hits on the originals right on the augmented images."""
KEPT_PER_CLASS = 0.5
"""... and at least this fraction within every class, so turning one digit into another cannot hide in the mean."""


def check_augmenter(
    name: str,
    options: dict[str, Any] | None = None,
    *,
    catalog: Catalog | None = None,
    in_place: bool = False,
    digits: str | None = "auto",
) -> None:
    """Check the augmenter ``name`` made with ``options``; raise ConformanceError on the first failure.

    - On float32 and float64 batches ``(N, 28, 28)`` in [0, 1] (with exact 0s and 1s) it returns
      an array of the same shape and dtype, finite, within [0, 1]; a small batch after a large
      one (reused buffers) gives what a fresh augmenter gives.
    - It leaves its input unchanged, unless ``in_place`` says it is documented to work in place.
    - The same seed gives the same output (fresh or reused augmenter); numpy's global random
      state is untouched.
    - Labels survive: a 3-nearest-neighbour classifier fitted on 2000 digit images (features
      centred on the centre of mass, blurred, pooled: shifts cannot fool it) classifies 1000 other
      digits, then the same 1000 augmented. It must keep at least 80% of its hits overall and at
      least 50% within every digit class. Measured on MNIST with zoo's built-ins: shifts that keep
      the digit in the frame keep about 100%, random rotations within ±12°, ±30° and ±45° keep
      98%, 92% and 83%, elastic distortion at Simard et al.'s alpha 34, sigma 4 keeps 87%; a 180°
      rotation, a mirror image or a batch shuffled within itself keep 10-41%. ``digits`` picks the images:
      ``"mnist"`` (the MNIST test set, found as zoo finds datasets, never downloaded),
      ``"synthetic"`` (digits drawn from pen strokes by the kit) or ``"auto"`` (MNIST if found);
      ``None`` skips this check, for an augmenter meant for images other than digits (a
      horizontal flip for clothes): then nothing checks that its labels survive.
    """
    subject = Subject.resolve("augmenter", name, options, catalog)
    with global_random_state_untouched(subject, "the random state check"):
        for dtype in (np.float32, np.float64):
            _check_shape_dtype_range(subject, dtype)
        _check_input_untouched(subject, in_place)
        _check_seeded(subject)
        if digits is not None:
            _check_labels(subject, digit_images.digits(digits))


def _augment(subject: Subject, check: str, augment: object, images: np.ndarray, seed: int) -> np.ndarray:
    """``augment(images, rng)`` with the result checked for shape, dtype, finiteness and range, as a copy."""
    out = augment(images, np.random.default_rng(seed))
    if not isinstance(out, np.ndarray) or out.shape != images.shape or out.dtype != images.dtype:
        got = f"{out.dtype}{list(out.shape)}" if isinstance(out, np.ndarray) else type(out).__name__
        raise subject.fail(check, f"given {images.dtype}{list(images.shape)} it returned {got}")
    if not np.all(np.isfinite(out)) or out.min(initial=0) < 0 or out.max(initial=0) > 1:
        raise subject.fail(check, f"its output has values in [{out.min()}, {out.max()}], outside [0, 1]")
    return out.copy()


def _mixed(count: int, dtype: type) -> np.ndarray:
    """Digits and noise with exact 0s and 1s."""
    noise = np.random.default_rng(0).random((count, 28, 28))
    noise[noise < 0.3], noise[noise > 0.7] = 0.0, 1.0
    return np.concatenate([digit_images.digits("synthetic").images[:count], noise]).astype(dtype)


def _check_shape_dtype_range(subject: Subject, dtype: type) -> None:
    check = f"the shape, dtype and range check ({np.dtype(dtype)})"
    images = _mixed(16, dtype)
    reused = subject.make()
    _augment(subject, check, reused, images.copy(), seed=1)
    for size in (5, 1):
        small = _augment(subject, check, reused, images[:size].copy(), seed=2)
        if not np.array_equal(small, _augment(subject, check, subject.make(), images[:size].copy(), seed=2)):
            raise subject.fail(check, f"a batch of {size} after a batch of 32 differs from the same batch done first")


def _check_input_untouched(subject: Subject, in_place: bool) -> None:
    if in_place:
        return
    images = _mixed(8, np.float32)
    before = images.copy()
    out = subject.make()(images, np.random.default_rng(3))
    if not np.array_equal(images, before) or np.shares_memory(out, images):
        raise subject.fail(
            "the input check",
            "it overwrote its input batch (or returned it); if that is documented, check it with in_place=True",
        )


def _check_seeded(subject: Subject) -> None:
    check = "the seeded determinism check"
    images = digit_images.digits("synthetic").images[:64]
    first = _augment(subject, check, subject.make(), images.copy(), seed=10)
    if not np.array_equal(first, _augment(subject, check, subject.make(), images.copy(), seed=10)):
        raise subject.fail(check, "two augmenters given the same batch and the same seed give different outputs")
    reused = subject.make()
    once = _augment(subject, check, reused, images.copy(), seed=10)
    if not np.array_equal(once, _augment(subject, check, reused, images.copy(), seed=10)):
        raise subject.fail(check, "one augmenter given the same batch and seed twice gives different outputs")


def _check_labels(subject: Subject, digits: digit_images.Digits) -> None:
    check = "the label preservation check"
    evaluated, labels = digits.images[: digit_images.EVALUATED], digits.labels[: digit_images.EVALUATED]
    before = digit_images.recognised(digits)
    augmented = _augment(subject, check, subject.make(), evaluated.copy(), seed=0)
    after = digit_images.classifier(digits).predict(augmented) == labels
    kept = after.mean() / before.mean()
    classes = np.unique(labels)
    per_class = [after[labels == k].mean() / before[labels == k].mean() for k in classes]
    worst = int(np.argmin(per_class))
    if kept < KEPT or per_class[worst] < KEPT_PER_CLASS:
        raise subject.fail(
            check,
            f"a nearest-neighbour classifier recognises {before.mean():.1%} of {len(labels)} {digits.source} "
            f"but only {after.mean():.1%} once augmented ({kept:.0%} kept, at least {KEPT:.0%} needed; digit "
            f"{classes[worst]} keeps {per_class[worst]:.0%}, at least {KEPT_PER_CLASS:.0%} needed): it changes "
            "what the images show (upside down or mirrored, shuffled in the batch, or distorted past recognition)",
        )
