"""A user's own images as a model saw its dataset: decoded, then prepared the way MNIST or Fashion-MNIST was made.

Two steps, so the Python API can use either: :func:`read_image` decodes a PNG or JPEG file
into grayscale (it needs Pillow, the ``images`` extra), and :func:`prepare` turns any
grayscale array into the uint8 ``(28, 28)`` light-on-dark image a model takes, in one of two
styles (pure NumPy and SciPy):

- ``"digit"``, as MNIST was made (LeCun et al.): dark ink on light paper is inverted, the
  image cropped to the ink, fitted into 20 x 20 keeping its aspect ratio (anti-aliased),
  and placed in 28 x 28 with its centre of mass at the centre;
- ``"fashion"``, as Fashion-MNIST was made (Xiao et al. 2017): the background trimmed,
  the longest edge resized to 28 by subsampling, sharpened, centred, negated so the
  object is light on black.

Both leave an image that is already in the dataset's form (28 x 28, light on dark) as it
was, or nearly: the MNIST steps reproduce MNIST's own normalisation.
"""

import io
import os

import numpy as np
from scipy import ndimage

from zoo.atomic import write_atomic
from zoo.errors import ZooError, did_you_mean, one_line

__all__ = [
    "DATASET_STYLES",
    "STYLES",
    "ImageError",
    "prepare",
    "read_image",
    "style_for",
    "to_gray",
    "write_png",
]

STYLES = ("digit", "fashion")
DATASET_STYLES = {"mnist": "digit", "fashion-mnist": "fashion"}
"""The style of each built-in dataset; any other dataset of 28 x 28 one-channel samples is ``digit`` by default."""
SIDE = 28
DIGIT_BOX = 20
"""MNIST fitted each digit into 20 x 20 and centred that by its centre of mass in 28 x 28."""
DIGIT_CENTRE = 14.0
"""Where MNIST's centres of mass lie, in pixel indices (their mean over the training set is 14.0, 14.0)."""
INK = 0.5
"""Ink is what is lighter than the background by half the way to the ink's own level (MNIST's binary strokes)."""
SPECK = 0.02
"""Blobs of ink smaller than this fraction of the largest blob are dirt or noise, not part of the digit."""
FUZZ = 0.05
"""Fashion-MNIST trimmed edges within 5 % of the maximum intensity of the corner colour."""
EXTRA_HINT = "pip install 'numpy-zoo[images]'"


class ImageError(ZooError):
    """An image that cannot be read or used, or image support that is not installed."""


def _pillow():
    """Pillow's ``Image`` and ``ImageOps`` modules, or one line saying how to install them."""
    try:
        from PIL import Image, ImageOps
    except ImportError:
        raise ImageError(f"reading images needs Pillow, which is not installed: {EXTRA_HINT}") from None
    return Image, ImageOps


def read_image(path: str | os.PathLike) -> np.ndarray:
    """The image file at ``path`` (PNG, JPEG, anything Pillow reads) as grayscale float32 ``(H, W)`` in [0, 1].

    Turned upright as its EXIF orientation says (phone photos); transparency composited onto
    white; the first frame of an animation. A missing, unreadable or non-image file is one
    :class:`ImageError` line naming it.
    """
    image_module, image_ops = _pillow()
    try:
        with image_module.open(path) as image:
            image = image_ops.exif_transpose(image)
            pixels = _pixels(image)
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a directory, not an image") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied") from None
    except image_module.UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file that Pillow can read (PNG, JPEG, ...)") from None
    except Exception as error:  # truncated or corrupt data, decompression bombs: one line, not a traceback
        raise ImageError(f"{path}: cannot read the image: {type(error).__name__}: {one_line(error)}") from None
    return to_gray(pixels)


def _pixels(image) -> np.ndarray:
    """A Pillow image as an array :func:`to_gray` takes: 8-bit L, RGB or RGBA, or 16/32-bit gray scaled to [0, 1]."""
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        values = np.asarray(image, dtype=np.float64)
        high = float(values.max(initial=0))
        return np.clip(values / (255 if high <= 255 else 65535 if high <= 65535 else high), 0, 1)
    if "A" in image.mode or "a" in image.mode or "transparency" in image.info:
        return np.asarray(image.convert("RGBA"))
    return np.asarray(image.convert("L" if image.mode in ("1", "L") else "RGB"))


def to_gray(pixels: np.ndarray) -> np.ndarray:
    """Grayscale float32 ``(H, W)`` in [0, 1] of gray ``(H, W)`` or ``(H, W, 1)``, gray and alpha ``(H, W, 2)``,
    RGB ``(H, W, 3)`` or RGBA ``(H, W, 4)`` pixels: uint8 (0-255) or floats in [0, 1].

    Colour becomes luma (ITU-R 601, as Pillow's ``L``); transparency is composited onto white
    paper, so a transparent background reads as light.
    """
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 2, 3, 4) or 0 in pixels.shape:
        raise ImageError(f"pixels of shape {pixels.shape} are not an image: (H, W) or (H, W, 1 to 4 channels)")
    values = pixels.astype(np.float32) / (255 if pixels.dtype == np.uint8 else 1)
    colour, alpha = (values[..., :-1], values[..., -1]) if pixels.shape[2] in (2, 4) else (values, None)
    gray = colour[..., 0] if colour.shape[2] == 1 else colour @ np.array([0.299, 0.587, 0.114], np.float32)
    if alpha is not None:
        gray = gray * alpha + (1 - alpha)
    return np.clip(gray, 0, 1)


def style_for(dataset: str, shape: tuple[int, ...], style: str | None = None) -> str:
    """The preparation style for a model of ``dataset`` whose samples have ``shape``: ``style`` if given, else
    the dataset's own (:data:`DATASET_STYLES`, ``digit`` for others). Only 28 x 28 one-channel samples qualify."""
    if tuple(shape) not in ((1, SIDE, SIDE), (SIDE, SIDE), (SIDE * SIDE,)):
        raise ImageError(
            f"dataset {dataset!r} has samples of shape {tuple(shape)}; images can be prepared only for models "
            f"of one-channel {SIDE} x {SIDE} samples, as MNIST's and Fashion-MNIST's"
        )
    if style is not None:
        _check_style(style)
        return style
    return DATASET_STYLES.get(dataset, "digit")


def _check_style(style: str) -> None:
    if style not in STYLES:
        raise ImageError(f"unknown style {style!r}{did_you_mean(style, STYLES)} (available: {', '.join(STYLES)})")


def prepare(gray: np.ndarray, style: str = "digit") -> np.ndarray:
    """The uint8 ``(28, 28)`` light-on-dark image a model takes, from grayscale ``(H, W)`` in [0, 1]
    (see :func:`to_gray`), made as ``style``'s dataset was (see the module's docstring)."""
    _check_style(style)
    gray = np.asarray(gray, dtype=np.float64)
    if gray.ndim != 2 or 0 in gray.shape or not np.isfinite(gray).all():
        raise ImageError(f"a grayscale image is a finite 2-D array (H, W), not of shape {gray.shape}")
    if float(gray.max() - gray.min()) < 1 / 255:
        raise ImageError("the image is blank (all one colour): there is nothing to classify")
    prepared = _digit(gray) if style == "digit" else _fashion(gray)
    return np.rint(np.clip(prepared, 0, 1) * 255).astype(np.uint8)


def _border(image: np.ndarray) -> np.ndarray:
    """The outermost ring of pixels."""
    return np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])


def _digit(gray: np.ndarray) -> np.ndarray:
    """MNIST's steps on ``gray``, as floats: light on dark, contrast stretched, cropped, fitted in 20 x 20, centred.

    The background is the median of the border: lighter than the middle of the image's
    range means dark ink on light paper, which is inverted (a digit may touch the border,
    but not cover most of it). The background then becomes 0 and the ink's level 1; a
    noisy background (its spread measured on the border) is cut off below the ink.
    """
    border = _border(gray)
    background = float(np.median(border))
    if background > (gray.min() + gray.max()) / 2:
        gray, background = 1 - gray, 1 - background
    spread = 1.4826 * float(np.median(np.abs(border - np.median(border))))  # a robust standard deviation
    halfway = (background + gray.max()) / 2
    level = float(np.percentile(gray[gray >= halfway], 90))  # the strokes' own level, not one bright speck
    contrast = max(level - background, 1 / 255)
    floor = min(3 * spread / contrast, INK / 2)  # the background's noise, in units of the ink's contrast
    ink = np.clip((gray - background) / contrast, 0, 1)
    ink = np.clip((ink - floor) / (1 - floor), 0, 1)
    rows, cols = _ink_box(ink > INK)
    crop = ink[rows, cols]
    scale = DIGIT_BOX / max(crop.shape)
    size = [max(1, round(n * scale)) for n in crop.shape]
    fitted = _resampling(crop.shape[0], size[0]) @ crop @ _resampling(crop.shape[1], size[1]).T
    return _place(fitted, [DIGIT_CENTRE - c for c in ndimage.center_of_mass(fitted)])


def _ink_box(mask: np.ndarray) -> tuple[slice, slice]:
    """The rows and columns holding the ink of ``mask`` (8-connected blobs), leaving out specks."""
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3)))
    sizes = np.bincount(labels.ravel())[1:]
    objects = ndimage.find_objects(labels)
    boxes = [objects[k] for k in np.flatnonzero(sizes >= SPECK * sizes.max())]
    return tuple(slice(min(b[axis].start for b in boxes), max(b[axis].stop for b in boxes)) for axis in (0, 1))


def _resampling(n_in: int, n_out: int) -> np.ndarray:
    """The ``(n_out, n_in)`` matrix of an anti-aliased linear resize along one axis, as Pillow's ``BILINEAR``:
    a triangle filter widened by the reduction factor when shrinking, so every input pixel counts."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale
    weights = np.maximum(0, 1 - np.abs(np.arange(n_in) + 0.5 - centres[:, None]) / support)
    return weights / weights.sum(axis=1, keepdims=True)


def _place(image: np.ndarray, shift) -> np.ndarray:
    """``image`` on a black 28 x 28 canvas, its top left corner at the whole-pixel ``shift``, cut at the edges."""
    canvas = np.zeros((SIDE, SIDE))
    top, left = (int(np.rint(s)) for s in shift)
    h, w = image.shape
    canvas[max(top, 0) : max(0, top + h), max(left, 0) : max(0, left + w)] = image[
        max(-top, 0) : max(0, SIDE - top), max(-left, 0) : max(0, SIDE - left)
    ]
    return canvas


def _fashion(gray: np.ndarray) -> np.ndarray:
    """Fashion-MNIST's steps on ``gray``, as floats (Xiao et al. 2017, section 2).

    The background is the median of the four corners; edges within 5 % of it are trimmed (more
    if the border is noisy). The object is made light on black relative to that background
    (plain negation on white; an image already light on dark keeps its polarity). A longest
    edge over 28 is shrunk to 28 by subsampling (skipping rows and columns) and sharpened by an
    unsharp mask of radius and sigma 1; an image smaller than 28 x 28 is enlarged to it the same
    way; an object that already fits (a Fashion-MNIST sample) keeps its size. The shortest edge
    is then extended to 28, centred (an odd margin's extra pixel before the object, as in the dataset).
    """
    corner = float(np.median(gray[[0, 0, -1, -1], [0, -1, 0, -1]]))
    border = _border(gray)
    fuzz = max(FUZZ, 3 * 1.4826 * float(np.median(np.abs(border - np.median(border)))))
    away = np.abs(gray - corner) > fuzz
    rows, cols = np.flatnonzero(away.any(axis=1)), np.flatnonzero(away.any(axis=0))
    if not len(rows):
        raise ImageError("the image holds nothing but its background colour: there is nothing to classify")
    crop = gray[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    crop = np.clip((corner - crop) / corner if corner > 0.5 else (crop - corner) / (1 - corner), 0, 1)
    longest = max(crop.shape)
    if longest > SIDE or max(gray.shape) < SIDE:
        size = [max(1, round(n * SIDE / longest)) for n in crop.shape]
        picks = [np.floor((np.arange(m) + 0.5) * n / m).astype(np.intp) for n, m in zip(crop.shape, size)]
        crop = crop[np.ix_(*picks)]
        crop = crop + (crop - ndimage.gaussian_filter(crop, sigma=1.0, truncate=1.0, mode="nearest"))
    return _place(crop, [(SIDE - n + 1) // 2 for n in crop.shape])


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """A uint8 grayscale image ``(H, W)`` as a PNG file at ``path``, atomically (needs Pillow)."""
    image_module, _ = _pillow()
    buffer = io.BytesIO()
    image_module.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    try:
        write_atomic(path, lambda f: f.write(buffer.getvalue()))
    except OSError as error:
        raise ImageError(f"{path}: cannot write the image: {one_line(error)}") from None
