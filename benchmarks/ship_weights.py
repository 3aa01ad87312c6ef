"""Train the registry entries whose weights zoo ships, into registry/weights/NAME.npz, and print a table.

Each entry trains as shipped (its own seed) by ``zoo train NAME --out ...`` in a fresh process with one
BLAS thread, ``--jobs`` at a time (longest first); the model file records the metrics, the seed, the zoo
version, the date and the recipe hash that ``zoo.create(name, pretrained=True)`` checks. Run from the
repository root with the datasets reachable (``ZOO_DATA=../shared/data``)::

    python benchmarks/ship_weights.py                 # every entry
    python benchmarks/ship_weights.py 'best-*' 'fashion-*' '*' --jobs 2   # the longest first
    python benchmarks/ship_weights.py --restamp 'tuned-cnn-*'            # record today's recipe hash only

``--restamp`` retrains nothing: it records the entry's current recipe hash in its shipped weights,
for a recipe change that trains the same bits (a new plugin option whose default does nothing).
Show that first, by training the entry with the code before and after the change side by side.
If the entry's ``[test_time]`` shifts changed (they predict differently but train the same), it also
measures and records the test accuracy the weights now give, with the shifts.
"""

import argparse
import concurrent.futures
import fnmatch
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "registry" / "weights"


def entries(patterns: list[str]) -> list[str]:
    """The entries matching ``patterns``, in the order of the patterns (give the longest trainings first)."""
    names = sorted(path.stem for path in (ROOT / "registry").glob("*.toml"))
    return list(dict.fromkeys(name for p in patterns for name in names if fnmatch.fnmatchcase(name, p)))


def train(name: str, runs_dir: Path) -> dict:
    env = os.environ | {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    zoo = Path(sys.executable).with_name("zoo")
    out = WEIGHTS / f"{name}.npz"
    command = [str(zoo), "train", name, "--out", str(out), "--runs-dir", str(runs_dir), "--json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        return {"name": name, "error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout)


def restamp(name: str) -> None:
    """Rewrite ``name``'s shipped weights with the entry's current recipe hash and test-time shifts (and the
    test accuracy with those shifts, if they changed), arrays and other metrics as they were."""
    import attrs
    import numpy as np

    from zoo import modelfile
    from zoo.entries import load_entry
    from zoo.evaluate import predict
    from zoo.loading import default_catalog
    from zoo.recipe import recipe_hash
    from zoo.test_time import recorded_shifts
    from zoo.training import load_data

    catalog, path = default_catalog(), WEIGHTS / f"{name}.npz"
    network, _, meta = modelfile.load(path, catalog)
    entry = load_entry(name, catalog)
    updates = {"recipe": recipe_hash(entry, catalog)}
    if entry.test_time.shifts != recorded_shifts(meta):
        data = load_data(entry, catalog, None)
        predictions = predict(network, data.test_images, entry=entry)
        updates["test_time"] = attrs.asdict(entry.test_time)
        updates["test_accuracy"] = float(np.mean(predictions == data.test_labels))
    changed = {key: (meta.get(key), value) for key, value in updates.items() if meta.get(key) != value}
    if changed:
        modelfile.save(path, network, entry, meta=meta | updates)
    print(f"{name}: " + ("; ".join(f"{key} {old} -> {new}" for key, (old, new) in changed.items()) or "unchanged"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("patterns", nargs="*", default=["*"])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--restamp", action="store_true", help="record the current recipe hash and test-time shifts; train nothing"
    )
    args = parser.parse_args()
    names = entries(args.patterns)
    if args.restamp:
        for name in names:
            restamp(name)
        return
    WEIGHTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as runs_dir, concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda name: train(name, Path(runs_dir)), names))
    print("| entry | test | validation | train s |\n|---|---|---|---|")
    for result in results:
        if "error" in result:
            print(f"| `{result['name']}` | failed: {result['error']} | | |")
            continue
        val = "" if result["val_accuracy"] is None else f"{result['val_accuracy']:.2%}"
        print(f"| `{result['name']}` | {result['test_accuracy']:.2%} | {val} | {result['train_seconds']:.0f} |")
    total = sum((WEIGHTS / f"{r['name']}.npz").stat().st_size for r in results if "error" not in r)
    print(f"\n{total / 1e6:.1f} MB of weights in {WEIGHTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
