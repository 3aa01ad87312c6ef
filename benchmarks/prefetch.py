"""Training seconds with augmented batches made in the loop (before) and a step ahead in a thread (after).

Each run is a fresh process training part of an entry's budget (``train_seconds``: steps only, no
evaluation); before and after take turns, per BLAS thread count, and the table shows medians, the
seconds the entry's full budget would take at that rate, and whether both ended with the same weights.

    ZOO_DATA=../shared/data python benchmarks/prefetch.py --repeats 3
"""

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys

# name, overrides for the timed part; the full budget's steps are the entry's own
RUNS = {
    "best-784-800-800-10-elastic": ["train.epochs=3"],
    "tuned-cnn-16-32-bn-augment": ["train.steps=300"],
}


def child(name: str, overrides: list[str], prefetch: bool) -> dict:
    from zoo import training
    from zoo.config import create
    from zoo.entries import load_entry
    from zoo.loading import default_catalog
    from zoo.prefetch import Batches, PrefetchedBatches

    # Before: every batch made when its step asks for it; after: a step ahead, whatever zoo.prefetch.core_to_spare says.
    training.batch_feed = lambda *args: (PrefetchedBatches if prefetch else Batches)(*args)
    catalog = default_catalog()
    full = load_entry(name, catalog)
    entry = load_entry(name, catalog, overrides)
    splits = training.load_splits(entry, catalog)
    per_epoch = create(full.batches, catalog).steps_per_epoch(len(splits.train_labels))
    steps = entry.train.steps or entry.train.epochs * per_epoch
    entry = load_entry(name, catalog, [*overrides, f"train.log_every={steps}"])
    network, result = training.train(entry, splits, catalog, test=False)
    digest = hashlib.sha256(b"".join(v.tobytes() for _, v in sorted(network.state().items()))).hexdigest()
    full_steps = full.train.steps or full.train.epochs * per_epoch
    return {"seconds": result.train_seconds, "steps": steps, "full_steps": full_steps, "weights": digest[:12]}


def measure(name: str, threads: int, prefetch: bool) -> dict:
    env = os.environ | {f"{lib}_NUM_THREADS": str(threads) for lib in ("OPENBLAS", "OMP", "MKL")}
    command = [sys.executable, __file__, "--child", name, "on" if prefetch else "off"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--entries", nargs="+", default=list(RUNS))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, mode = args.child
        print(json.dumps(child(name, RUNS[name], mode == "on")))
        return
    print(f"{'entry':30} {'BLAS':>4} {'steps':>6} {'before s':>9} {'after s':>8} {'speed-up':>8}"
          f" {'full before':>11} {'full after':>10}  same weights")  # fmt: skip
    for name in args.entries:
        for threads in args.threads:
            runs = {False: [], True: []}
            for _ in range(args.repeats):
                for prefetch in (False, True):  # taking turns, so load swings hit both alike
                    runs[prefetch].append(measure(name, threads, prefetch))
            before, after = (statistics.median(r["seconds"] for r in runs[p]) for p in (False, True))
            first = runs[False][0]
            scale = first["full_steps"] / first["steps"]
            same = len({r["weights"] for r in runs[False] + runs[True]}) == 1
            print(f"{name:30} {threads:4d} {first['steps']:6d} {before:9.1f} {after:8.1f} {before / after:7.2f}x"
                  f" {before * scale:10.0f}s {after * scale:9.0f}s  {'yes' if same else 'NO'}")  # fmt: skip


if __name__ == "__main__":
    main()
