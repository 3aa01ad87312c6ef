"""Built-in datasets: MNIST and Fashion-MNIST from their IDX files, checked against known SHA-256 digests.

``MNIST`` and ``FASHION_MNIST`` are public :class:`zoo.datasets.Dataset` values: a plugin builds
on them with ``MNIST.derive(transform)`` instead of copying the file list and digests.
"""

import functools

import zoo
from zoo.data import IdxFile, load_image_dataset
from zoo.datasets import Dataset

MNIST_FILES = {
    "train_images": IdxFile(
        "train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
    ),
    "train_labels": IdxFile(
        "train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
    ),
    "test_images": IdxFile(
        "t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
    ),
    "test_labels": IdxFile(
        "t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
    ),
}
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist",
    "https://storage.googleapis.com/cvdf-datasets/mnist",
)

FASHION_FILES = {
    "train_images": IdxFile(
        "train-images-idx3-ubyte", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
    ),
    "train_labels": IdxFile(
        "train-labels-idx1-ubyte", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
    ),
    "test_images": IdxFile(
        "t10k-images-idx3-ubyte", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
    ),
    "test_labels": IdxFile(
        "t10k-labels-idx1-ubyte", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
    ),
}
FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",)
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

DIGITS = tuple(str(d) for d in range(10))
SHAPE = (1, 28, 28)
"""One image of either dataset: one channel of 28 x 28 pixels."""

MNIST = Dataset(SHAPE, DIGITS, functools.partial(load_image_dataset, "mnist", MNIST_FILES, DIGITS, MNIST_MIRRORS))
FASHION_MNIST = Dataset(
    SHAPE,
    FASHION_CLASSES,
    functools.partial(load_image_dataset, "fashion-mnist", FASHION_FILES, FASHION_CLASSES, FASHION_MIRRORS),
)


@zoo.hookimpl
def register_datasets(register):
    register("mnist", MNIST)
    register("fashion-mnist", FASHION_MNIST)
