"""``check_entry``: a registry entry validates, its network builds, and a training step runs and changes it."""

import math

import numpy as np

from zoo.catalog import Catalog
from zoo.config import CLASSES, PluginRef
from zoo.entries import load_entry
from zoo.errors import ZooError
from zoo.loading import default_catalog
from zoo.network import build_network
from zoo.splits import Splits
from zoo.testing.core import Subject, global_random_state_untouched
from zoo.training import seeds, train


def check_entry(
    name: str,
    *,
    catalog: Catalog | None = None,
    image_shape: tuple[int, ...] = (28, 28),
    classes: int = CLASSES,
    samples: int = 512,
) -> None:
    """Check the registry entry ``name``; raise ConformanceError on the first failure.

    - It loads and validates against the catalog (every plugin name and option).
    - Its network builds for images of ``image_shape`` in ``classes`` classes, and one training
      step (``train.steps = 1``, through zoo's own training loop, on ``samples`` random images,
      not the entry's dataset) gives a finite loss and changes at least one parameter.
    """
    catalog = default_catalog() if catalog is None else catalog
    record = catalog.get("model", name, "zoo.testing")
    subject = Subject(record, {}, PluginRef("model", name, {}, "zoo.testing"), catalog)
    with global_random_state_untouched(subject, "the random state check"):
        try:
            entry = load_entry(name, catalog)
        except ZooError as error:
            raise subject.fail("validation", str(error)) from None
        try:
            one_step = entry.with_overrides(["train.steps=1"], catalog)
            splits = _random_splits(image_shape, classes, samples)
            seed = one_step.seed_for(None)
            initial = build_network(one_step, catalog, splits.in_shape, classes, seeds(seed)["layers"])
            before = {key: value.copy() for key, value in initial.state().items()}
            network, result = train(one_step, splits, catalog)
        except ZooError as error:
            raise subject.fail("the training step", str(error)) from None
    loss = result.history[-1].loss
    if not math.isfinite(loss):
        raise subject.fail("the training step", f"the loss of its first step is {loss}")
    after = network.state()
    if not any(not np.array_equal(after[key], value) for key, value in before.items()):
        raise subject.fail("the training step", f"one step changed none of its {len(before)} parameter arrays")


def _random_splits(image_shape: tuple[int, ...], classes: int, samples: int) -> Splits:
    """``samples`` random uint8 training images and 32 test images with random labels; no validation set."""
    rng = np.random.default_rng(0)
    label_type = np.uint8 if classes <= 256 else np.intp  # datasets keep labels as uint8

    def part(count: int) -> tuple[np.ndarray, np.ndarray]:
        return rng.integers(0, 256, (count, *image_shape), dtype=np.uint8), rng.integers(0, classes, count, label_type)

    (train_images, train_labels), (test_images, test_labels) = part(samples), part(32)
    empty_images, empty_labels = train_images[:0], train_labels[:0]
    names = tuple(str(k) for k in range(classes))
    return Splits(train_images, train_labels, empty_images, empty_labels, test_images, test_labels, names)
