"""Train / validation / test splits of a dataset, as uint8 views or copies of its arrays."""

import attrs
import numpy as np

from zoo.config import DataSpec
from zoo.data import ImageData
from zoo.errors import ConfigError


@attrs.frozen(eq=False)
class Splits:
    """uint8 images ``(N, H, W)`` or ``(N, C, H, W)`` and labels ``(N,)`` for each part; validation may be empty."""

    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: tuple[str, ...]

    @property
    def in_shape(self) -> tuple[int, ...]:
        """One sample's shape, channels first: stored ``(N, H, W)`` images are ``(1, H, W)``."""
        shape = tuple(int(n) for n in self.train_images.shape[1:])
        return (1, *shape) if len(shape) == 2 else shape


def split(data: ImageData, spec: DataSpec, rng: np.random.Generator, where: str = "data.validation") -> Splits:
    """Hold out ``spec.validation`` training samples: the last ones (``split = "last"``) or a random draw."""
    n = len(data.train_labels)
    if spec.validation >= n:
        raise ConfigError(f"{where}: {spec.validation} validation samples leave none of the {n} for training")
    images, labels = data.train_images, data.train_labels
    if spec.split == "random":
        order = rng.permutation(n)
        images, labels = images[order], labels[order]
    cut = n - spec.validation
    return Splits(
        images[:cut], labels[:cut], images[cut:], labels[cut:], data.test_images, data.test_labels, data.classes
    )
