"""How a sweep's wall time grows with its number of trials and with the training set's size, per executor.

    ZOO_DATA=../shared/data python benchmarks/sweep_scale.py [--trials 1 2 4 8] [--train-sizes 10000 30000 50000]
                                                            [--no-dask] [--repeats 1]

Sweeps seed 003's dropout study for two epochs per trial (``--epochs``): first over 1, 2, 4 and 8
dropout rates on its usual 50k training images, then 4 rates on 10k, 30k and 50k training images
(the rest held out for validation, ``data.validation``, so the validation pass grows as the
training set shrinks). Each sweep runs locally with ``--jobs 1`` and ``--jobs 2`` and on a Dask
``LocalCluster`` of 2 single-threaded workers (as ``sweep_jobs.py`` runs them: fresh process,
fresh runs directory, the cluster's start untimed). Below each table, a least-squares line
through each executor's points: its fixed cost (start-up, data loading, the test pass) and its
cost per trial, or per 10k training images of a 4-trial sweep.
"""

import argparse
import sys

from sweep_jobs import on_dask, sweep

STUDY = "study-003-dropout"
RATES = "layers.2.rate+layers.5.rate+layers.8.rate"
IMAGES = 60_000
EXECUTORS = (("local", 1), ("local", 2), ("dask", 2))


def rates(n: int) -> str:
    """``n`` dropout rates spread over [0, 0.5]."""
    return ",".join(f"{0.5 * i / max(n - 1, 1):.3f}" for i in range(n))


def run(executor: str, n: int, arguments: list[str]) -> float:
    seconds, _ = sweep(arguments, ["--jobs", str(n)]) if executor == "local" else on_dask(n, arguments)
    return seconds


def line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Intercept and slope of the least-squares line through the points."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / spread if spread else 0.0
    return my - slope * mx, slope


def table(title: str, label: str, points: list, executors, times: dict, unit: float, per: str) -> None:
    """A markdown table of minimum wall seconds per point and executor, then each executor's fitted line."""
    print(f"\n{title}\n")
    print(f"| {label} | " + " | ".join(f"{e} ×{n} s" for e, n in executors) + " |")
    print("|---|" + "---|" * len(executors))
    for point in points:
        print(f"| {point} | " + " | ".join(f"{min(times[(e, n, point)]):.1f}" for e, n in executors) + " |")
    for e, n in executors:
        fixed, slope = line([p / unit for p in points], [min(times[(e, n, p)]) for p in points])
        print(f"\n{e} ×{n}: about {fixed:.1f} s + {slope:.2f} s {per}", end="")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--train-sizes", type=int, nargs="+", default=[10_000, 30_000, 50_000])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="rounds of everything; the tables show minimums")
    parser.add_argument("--no-dask", action="store_true", help="local executors only")
    args = parser.parse_args()
    executors = [(e, n) for e, n in EXECUTORS if e == "local" or not args.no_dask]
    budget = ["--set", f"train.epochs={args.epochs}"]
    sweeps = {
        "trials": {t: [STUDY, "--grid", f"{RATES}={rates(t)}", *budget] for t in args.trials},
        "size": {
            size: [STUDY, "--grid", f"{RATES}={rates(4)}", *budget, "--set", f"data.validation={IMAGES - size}"]
            for size in args.train_sizes
        },
    }
    times = {kind: {} for kind in sweeps}  # kind -> (executor, n, point) -> wall seconds of each round
    for _ in range(args.repeats):
        for kind, by_point in sweeps.items():
            for point, arguments in by_point.items():
                for e, n in executors:
                    seconds = run(e, n, arguments)
                    times[kind].setdefault((e, n, point), []).append(seconds)
                    print(f"{kind} {point}, {e} ×{n}: {seconds:.1f} s", file=sys.stderr, flush=True)
    table(
        f"Wall seconds by number of trials (train.epochs={args.epochs}, 50k training images):",
        "trials",
        args.trials,
        executors,
        times["trials"],
        1,
        "per trial",
    )
    table(
        f"Wall seconds by training-set size (4 trials, train.epochs={args.epochs}):",
        "training images",
        args.train_sizes,
        executors,
        times["size"],
        10_000,
        "per 10k training images",
    )


if __name__ == "__main__":
    main()
