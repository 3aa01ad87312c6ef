"""Validation accuracy of trained model files with no test-time shifts, 4 and 8, to choose ``[test_time]`` on
validation, then a table. The files must come from entries with a validation split (``data.validation``);
their own validation images are used, never the test set::

    ZOO_DATA=../shared/data python benchmarks/test_time_shifts.py runs/*/model.npz
"""

import argparse

import attrs
import numpy as np

from zoo import modelfile
from zoo.evaluate import predict
from zoo.loading import default_catalog
from zoo.test_time import OFFSETS, TestTimeSpec
from zoo.training import load_splits

SETTINGS = (0, *OFFSETS)


def validation_accuracies(path: str, catalog) -> dict[int, float]:
    network, entry, meta = modelfile.load(path, catalog)
    if not entry.data.validation:
        raise SystemExit(f"{path}: {entry.name} trained without a validation split")
    splits = load_splits(entry, catalog, meta.get("seed", 0))
    images, labels = splits.val_images, splits.val_labels
    accuracy = {}
    for shifts in SETTINGS:
        predictions = predict(network, images, entry=attrs.evolve(entry, test_time=TestTimeSpec(shifts)))
        accuracy[shifts] = float(np.mean(predictions == labels))
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    args = parser.parse_args()
    catalog = default_catalog()
    print("| model | " + " | ".join(f"{s} shifts" for s in SETTINGS) + " |")
    print("|---" * (len(SETTINGS) + 1) + "|")
    rows = []
    for path in args.models:
        rows.append(validation_accuracies(path, catalog))
        print(f"| {path} | " + " | ".join(f"{rows[-1][s]:.2%}" for s in SETTINGS) + " |", flush=True)
    print("| mean | " + " | ".join(f"{np.mean([r[s] for r in rows]):.3%}" for s in SETTINGS) + " |")


if __name__ == "__main__":
    main()
