"""Wall time of one sweep with --jobs 1 and --jobs N, run side by side, and whether their numbers agree.

    ZOO_DATA=../shared/data python benchmarks/sweep_jobs.py [--jobs 2] [--repeats 1] [-- extra sweep arguments]

By default it sweeps seed 003's dropout study over five rates (one seed each). Each
configuration runs in a fresh temporary runs directory; the table gives wall seconds per
configuration and the selected setting and test accuracy, which must be identical.
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


def sweep(jobs: int, arguments: list[str]) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as runs:
        command = [sys.executable, "-m", "zoo", "sweep", *arguments, "--jobs", str(jobs), "--runs-dir", runs, "--json"]
        started = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True, check=True)
        return time.perf_counter() - started, json.loads(completed.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="the parallel configuration (default 2)")
    parser.add_argument("--repeats", type=int, default=1, help="times to run each configuration, alternating")
    parser.add_argument("sweep", nargs="*", default=DEFAULT, help="sweep arguments (default: the dropout study)")
    args = parser.parse_args()
    rows = []
    for repeat in range(args.repeats):
        for jobs in (1, args.jobs):
            seconds, document = sweep(jobs, args.sweep)
            rows.append((jobs, repeat, seconds, document))
            print(f"jobs {jobs} run {repeat + 1}: {seconds:.1f} s", file=sys.stderr, flush=True)
    print("| jobs | run | wall s | selected | test accuracy | val accuracy per setting |")
    print("|---|---|---|---|---|---|")
    for jobs, repeat, seconds, document in rows:
        vals = " ".join(f"{t['val_accuracy']:.4f}" for t in document["trials"])
        selected = ", ".join(f"{k}={v}" for k, v in document["selected"].items())
        print(f"| {jobs} | {repeat + 1} | {seconds:.1f} | {selected} | {document['test_accuracy']:.4f} | {vals} |")
    print(f"\nidentical numbers across all runs: {_same_numbers(rows)}")


def _same_numbers(rows) -> bool:
    """Equal validation accuracies, selection and test accuracy (seconds naturally differ)."""

    def numbers(document):
        trials = [(t["val_accuracy"], t["val_accuracy_std"]) for t in document["trials"]]
        return trials, document["selected"], document["test_accuracy"]

    return all(numbers(r[3]) == numbers(rows[0][3]) for r in rows)


if __name__ == "__main__":
    main()
