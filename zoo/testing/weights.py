"""``check_weights``: registered weights load, fit their entry's network and were trained from its recipe."""

import math

from zoo.catalog import Catalog
from zoo.config import PluginRef
from zoo.errors import ZooError
from zoo.loading import default_catalog
from zoo.testing.core import Subject
from zoo.weights import load_pretrained

RECORDED = ("seed", "test_accuracy", "val_accuracy", "train_seconds", "zoo_version", "trained", "recipe")
"""What weights record when ``zoo train --out`` writes them."""


def check_weights(name: str, *, catalog: Catalog | None = None) -> None:
    """Check the weights registered for entry ``name``; raise ConformanceError on the first failure.

    - The file is a model file that loads (never unpickled) and builds the entry's network.
    - It records the entry's current recipe hash, so ``pretrained=True`` accepts it: an entry
      changed since its weights were trained fails here, in the package's tests, not for its users.
    - It records what training wrote (seed, accuracies, seconds, zoo version, date), with
      accuracies in [0, 1].
    """
    catalog = default_catalog() if catalog is None else catalog
    record = catalog.get("weights", name, "zoo.testing")
    subject = Subject(record, {}, PluginRef("weights", name, {}, "zoo.testing"), catalog)
    try:
        _, _, meta = load_pretrained(name, catalog)
    except ZooError as error:
        raise subject.fail("loading", str(error)) from None
    missing = [key for key in RECORDED if key not in meta]
    if missing:
        raise subject.fail("metadata", f"records no {', '.join(missing)}: write weights with zoo train --out")
    for key in ("test_accuracy", "val_accuracy"):
        value = meta[key]
        if value is not None and not (isinstance(value, float) and math.isfinite(value) and 0 <= value <= 1):
            raise subject.fail("metadata", f"{key} is {value!r}, not an accuracy in [0, 1]")
