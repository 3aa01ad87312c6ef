"""Wall time of one sweep run locally with --jobs 1 and --jobs N and on a Dask LocalCluster of 1 and 2
single-threaded worker processes, and whether their numbers agree with the local --jobs 1 run.

    ZOO_DATA=../shared/data python benchmarks/sweep_jobs.py [--jobs 2] [--repeats 1] [--no-dask] [-- sweep arguments]

By default it sweeps seed 003's dropout study over five rates (one seed each). Each
configuration runs ``zoo sweep`` in a fresh process and a fresh temporary runs directory (the
Dask ones with ``--executor dask`` against a cluster started beforehand, whose start is not
timed); the table gives wall seconds, the speed-up over local --jobs 1 in the same round and
over the same executor with one job or worker (Dask's 2 workers against its 1), the selected
setting and test accuracy, and whether every number equals local --jobs 1's.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time

DEFAULT = [
    "study-003-dropout",
    "--grid",
    "layers.2.rate+layers.5.rate+layers.8.rate=0.0,0.1,0.2,0.3,0.5",
]
DASK_WORKERS = (1, 2)


def sweep(arguments: list[str], executor: list[str]) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as runs:
        command = [sys.executable, "-m", "zoo", "sweep", *arguments, *executor, "--runs-dir", runs, "--json"]
        started = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if completed.returncode:
            sys.exit(f"{' '.join(command)} failed:\n{completed.stderr}")
        return seconds, json.loads(completed.stdout)


def on_dask(workers: int, arguments: list[str]) -> tuple[float, dict]:
    from distributed import LocalCluster

    started = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        print(f"  (a cluster of {workers} started in {time.perf_counter() - started:.1f} s)", file=sys.stderr)
        return sweep(arguments, ["--executor", "dask", "--address", cluster.scheduler_address])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="the parallel local configuration (default 2)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of every configuration, alternating")
    parser.add_argument("--no-dask", action="store_true", help="local configurations only")
    parser.add_argument("sweep", nargs="*", default=DEFAULT, help="sweep arguments (default: the dropout study)")
    args = parser.parse_args()
    configurations = [("local", 1), ("local", args.jobs)]
    if not args.no_dask:
        configurations += [("dask", workers) for workers in DASK_WORKERS]
    rows = []
    for repeat in range(args.repeats):
        for executor, n in configurations:
            if executor == "local":
                seconds, document = sweep(args.sweep, ["--jobs", str(n)])
            else:
                seconds, document = on_dask(n, args.sweep)
            rows.append((executor, n, repeat, seconds, document))
            print(f"{executor} {n} round {repeat + 1}: {seconds:.1f} s", file=sys.stderr, flush=True)
    reference = rows[0][4]
    print(
        "| executor | jobs/workers | round | wall s | speed-up | vs 1 of the same | selected | test accuracy "
        "| val per setting | same |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for executor, n, repeat, seconds, document in rows:
        serial = next(r[3] for r in rows if r[2] == repeat and r[:2] == ("local", 1))
        one = next(r[3] for r in rows if r[2] == repeat and r[:2] == (executor, 1))  # Dask 2 workers against 1
        vals = " ".join(f"{t['val_accuracy']:.4f}" for t in document["trials"])
        selected = ", ".join(f"{k}={v}" for k, v in document["selected"].items())
        same = "yes" if _numbers(document) == _numbers(reference) else "NO"
        print(
            f"| {executor} | {n} | {repeat + 1} | {seconds:.1f} | {serial / seconds:.2f} | {one / seconds:.2f} "
            f"| {selected} "
            f"| {document['test_accuracy']:.4f} | {vals} | {same} |"
        )
    print(f"\nidentical numbers across all runs: {all(_numbers(r[4]) == _numbers(reference) for r in rows)}")


def _numbers(document):
    """Validation accuracies, selection and test accuracy (seconds naturally differ)."""
    trials = [(t["val_accuracy"], t["val_accuracy_std"]) for t in document["trials"]]
    return trials, document["selected"], document["test_accuracy"]


if __name__ == "__main__":
    main()
