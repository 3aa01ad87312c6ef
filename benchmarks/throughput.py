"""Training and evaluation throughput of zoo against NumPy loops (the notebooks' and a hand-written one) and PyTorch.

    ZOO_DATA=../shared/data python benchmarks/throughput.py                 # throughput, evaluation, GEMM floor
    ZOO_DATA=../shared/data python benchmarks/throughput.py --rss           # + peak RSS of `zoo train` per entry
    ZOO_DATA=../shared/data python benchmarks/throughput.py --time-to-accuracy
    ZOO_DATA=../shared/data python benchmarks/throughput.py --networks lenet-5 --rss lenet-5
    ZOO_DATA=../shared/data python benchmarks/throughput.py --quick         # checks the harness in a minute

Each measurement is one epoch of plain SGD (ReLU hidden layers, softmax cross-entropy,
float32) on the 60k MNIST training images, in shuffled mini-batches; batch size 1 times a
fixed slice of the epoch (``--batch1-images``). zoo runs its own training loop
(``zoo.training.train`` on an entry made with ``ModelEntry.from_table``); "numpy" is the loop
the seed notebooks wrote (a new array for every intermediate); "blas" is the fastest loop one
would write by hand (``blas_loop.py``: BLAS ``gemv``/``ger`` at batch size 1, preallocated
products above); "torch" is ``nn.Sequential`` with ``torch.optim.SGD``, fed the same batches.
Every library gets ``--threads`` threads (default: the cores; on a busy shared machine
``--threads 1`` and the CPU-seconds table are the steadier figures). Each measurement runs
in a fresh process, so one library's idle threads never slow another's; the implementations
take turns, repetition after repetition, and the median is shown. PyTorch is optional:
without it its columns are left out.
LeNet-5 (``lenet.py``, zoo against PyTorch only) has rows in the same tables, at every
batch size but 1.
"""

import argparse
import functools
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import blas_loop
import lenet
import numpy as np
from torch_loop import train_and_evaluate

NETWORKS = {"784-512-10": (784, 512, 10), "784-100-200-200-10": (784, 100, 200, 200, 10)}
BATCHES = (128, 32, 1)
LR = 0.01
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
TUNED_512, SEED_004, TARGET_ACCURACY = "tuned-784-512-10-dropout", "seed-004-online-sgd", 0.98
FORCED_KERNEL = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
QUICK = {"images": 1280, "batch1_images": 100, "repeats": 1}
QUICK_RSS_STEPS = 20


def cores() -> int:
    return len(os.sched_getaffinity(0))


def mnist(data_dir):
    """The MNIST training and test sets as zoo stores them (uint8), through zoo's loader."""
    from zoo.loading import default_catalog

    return default_catalog().get("dataset", "mnist").factory(data_dir=data_dir)


# ---------------------------------------------------------------------------------------------
# One measurement, in its own process: training seconds, training CPU seconds (all threads),
# evaluation seconds on the 10k test set and test accuracy


def measure_zoo(widths, batch, images, data, order):
    from zoo.config import ModelEntry
    from zoo.evaluate import predict
    from zoo.loading import default_catalog
    from zoo.splits import Splits
    from zoo.training import train

    catalog = default_catalog()
    layers = [layer for units in widths[1:-1] for layer in ({"type": "dense", "units": units}, {"type": "relu"})]
    steps = -(-images // batch)
    table = {
        "layers": [*layers, {"type": "dense", "units": widths[-1]}],
        "loss": {"type": "softmax_cross_entropy"},
        "optimizer": {"type": "sgd", "lr": LR},
        "batches": {"type": "shuffled", "size": batch},
        "train": {"steps": steps, "log_every": steps},
    }
    entry = ModelEntry.from_table("throughput", table, "benchmarks/throughput.py", catalog)
    empty = data.train_images[:0], data.train_labels[:0]
    splits = Splits(data.train_images, data.train_labels, *empty, data.test_images, data.test_labels, data.classes)
    cpu = [time.process_time()]
    network, result = train(entry, splits, catalog, on_log=lambda record: cpu.append(time.process_time()), test=False)
    started = time.perf_counter()
    predictions = predict(network, data.test_images)
    seconds = time.perf_counter() - started
    return result.train_seconds, cpu[1] - cpu[0], seconds, float(np.mean(predictions == data.test_labels))


def measure_numpy(widths, batch, images, data, order):
    """The notebooks' loop: every product, activation and gradient is a new array."""
    x_all = data.train_images.reshape(len(data.train_images), -1).astype(np.float32) / np.float32(255)
    y_all = data.train_labels.astype(np.intp)
    rng = np.random.default_rng(0)
    weights = [
        (rng.standard_normal((n_in, n_out), dtype=np.float32) * np.float32(np.sqrt(2 / n_in)), np.zeros(n_out, "f4"))
        for n_in, n_out in zip(widths[:-1], widths[1:])
    ]

    def forward(x):
        activations = [x]
        for i, (W, b) in enumerate(weights):
            z = activations[-1] @ W + b
            activations.append(np.maximum(z, 0) if i < len(weights) - 1 else z)
        return activations

    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, images, batch):
        index = order[start : start + batch]
        x, y = x_all[index], y_all[index]
        activations = forward(x)
        z = activations[-1]
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(y)), y] -= 1
        delta = p / len(y)
        for i in range(len(weights) - 1, -1, -1):
            W, b = weights[i]
            dW, db = activations[i].T @ delta, delta.sum(axis=0)
            if i:
                delta = (delta @ W.T) * (activations[i] > 0)
            weights[i] = (W - LR * dW, b - LR * db)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    x_test = data.test_images.reshape(len(data.test_images), -1).astype(np.float32) / np.float32(255)
    started = time.perf_counter()
    predictions = forward(x_test)[-1].argmax(axis=1)
    return seconds, cpu, time.perf_counter() - started, float(np.mean(predictions == data.test_labels))


def measure_torch(widths, batch, images, data, order):
    import torch
    from torch import nn

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    torch.manual_seed(0)
    layers = [
        module
        for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:]))
        for module in ([nn.Linear(n_in, n_out)] + ([nn.ReLU()] if i < len(widths) - 2 else []))
    ]
    x_train, x_test = _flat(data.train_images), _flat(data.test_images)
    model = nn.Sequential(*layers)
    return train_and_evaluate(model, x_train, data.train_labels, x_test, data.test_labels, order, batch, images, LR)


def measure_blas(widths, batch, images, data, order):
    x_train, x_test = _flat(data.train_images), _flat(data.test_images)
    return blas_loop.train_and_evaluate(
        widths, x_train, data.train_labels, x_test, data.test_labels, order, batch, images, LR
    )


def _flat(images):
    return images.reshape(len(images), -1).astype(np.float32) / np.float32(255)


MEASURES = {"zoo": measure_zoo, "numpy": measure_numpy, "blas": measure_blas, "torch": measure_torch}
IMPLEMENTATIONS = ("zoo", "numpy", "blas", "torch")  # MLPs: each measure takes the widths first


def implementations(net) -> dict:
    """Network ``net``'s implementations: name -> measure(batch, images, data, order)."""
    if net == lenet.NETWORK:
        return lenet.MEASURES
    return {impl: functools.partial(run, NETWORKS[net]) for impl, run in MEASURES.items()}


def measure_here(args) -> None:
    """The hidden ``--measure IMPL NET BATCH IMAGES`` mode: one measurement, printed as JSON."""
    impl, net, batch, images = args.measure
    data = mnist(args.data_dir)
    order = np.random.default_rng(0).permutation(len(data.train_labels))
    train_s, cpu_s, eval_s, accuracy = implementations(net)[impl](int(batch), int(images), data, order)
    print(json.dumps({"train": train_s, "cpu": cpu_s, "eval": eval_s, "accuracy": accuracy}))


def measure(impl, net, batch, images, data_dir) -> dict | None:
    """One measurement in a fresh process; None, after printing why, if it failed."""
    command = [sys.executable, __file__, "--measure", impl, net, str(batch), str(images)]
    if data_dir:
        command += ["--data-dir", data_dir]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
        print(f"  {impl} {net} batch {batch} failed, not measured again; rerun for the traceback:", flush=True)
        print(f"    {' '.join(command)}\n    {last}", flush=True)
        return None
    return json.loads(done.stdout.splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# The GEMM-bound floor


def flops_per_sample(widths) -> int:
    """Multiply-adds x2 of forward (x @ W), weight gradients (xᵀ @ dy) and input gradients (dy @ Wᵀ, not layer 1)."""
    products = [n_in * n_out for n_in, n_out in zip(widths[:-1], widths[1:])]
    return 2 * (2 * sum(products) + sum(products[1:]))


def gemm_rate(m, k, n, seconds=1.0) -> tuple[float, float]:
    """Median GFLOP/s of a float32 ``(m, k) @ (k, n)`` product over about ``seconds``: per wall and per CPU second."""
    rng = np.random.default_rng(0)
    a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
    out = np.empty((m, n), np.float32)
    np.matmul(a, b, out=out)
    wall, cpu, deadline = [], [], time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(wall) < 5:
        started, cpu_started = time.perf_counter(), time.process_time()
        for _ in range(10):
            np.matmul(a, b, out=out)
        wall.append(10 * 2 * m * k * n / (time.perf_counter() - started) / 1e9)
        cpu.append(10 * 2 * m * k * n / (time.process_time() - cpu_started) / 1e9)
    return statistics.median(wall), statistics.median(cpu)


# ---------------------------------------------------------------------------------------------
# Optional parts: peak RSS of each registry entry, time to accuracy


def peak_rss(name, data_dir, overrides=()) -> tuple[float, int]:
    """Peak RSS in MiB of ``zoo train NAME`` (with ``--set`` ``overrides``) in a child process, and its exit status."""
    command = [os.path.join(os.path.dirname(sys.executable), "zoo"), "train", name, "--json"]
    command += [f"--set={override}" for override in overrides]
    if data_dir:
        command += ["--data-dir", data_dir]
    with tempfile.TemporaryDirectory() as runs:  # the run directory zoo writes is not wanted
        env = {**os.environ, "ZOO_RUNS": runs}
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, child.returncode  # ru_maxrss is in KiB on Linux


class _Reached(Exception):
    """Stops training once the target accuracy is reached."""


def time_to_accuracy(data_dir) -> tuple[float | None, float, float]:
    """Training seconds (evaluation excluded) until the tuned 784-512-10 entry first reaches 98.0 % test accuracy.

    Trained as its entry says, with the test set in place of the validation split, so zoo's
    own end-of-epoch evaluation measures test accuracy and its clock leaves evaluation out.
    Also the accuracy then, and the CPU seconds of the run so far (evaluations included).
    """
    from zoo.entries import load_entry
    from zoo.loading import default_catalog
    from zoo.splits import Splits
    from zoo.training import load_splits, train

    catalog = default_catalog()
    entry = load_entry(TUNED_512, catalog)
    s = load_splits(entry, catalog, data_dir=data_dir)
    splits = Splits(
        s.train_images, s.train_labels, s.test_images, s.test_labels, s.test_images, s.test_labels, s.classes
    )
    last, started = [], time.process_time()

    def on_log(record):
        last[:] = [record]
        if record.val_accuracy >= TARGET_ACCURACY:
            raise _Reached

    try:
        train(entry, splits, catalog, on_log=on_log)
    except _Reached:
        return last[0].seconds, last[0].val_accuracy, time.process_time() - started
    return None, last[0].val_accuracy, time.process_time() - started


def seed_004(data_dir) -> tuple[float, float, float]:
    """Training seconds, test accuracy and training CPU seconds of seed 004's entry (5 epochs of online SGD)."""
    from zoo.entries import load_entry
    from zoo.loading import default_catalog
    from zoo.training import load_splits, train

    catalog = default_catalog()
    entry = load_entry(SEED_004, catalog)
    cpu = [time.process_time()]
    _, result = train(
        entry, load_splits(entry, catalog, data_dir=data_dir), catalog, on_log=lambda r: cpu.append(time.process_time())
    )
    return result.train_seconds, result.test_accuracy, cpu[-1] - cpu[0]


# ---------------------------------------------------------------------------------------------


def throughput_table(args) -> dict:
    impls = {net: [i for i in implementations(net) if i in args.implementations] for net in args.networks}
    # LeNet-5 at batch size 1 is left out: issue 11 asks for 128 and 32, and it would add minutes.
    configs = [(n, b) for n in args.networks for b in args.batches if impls[n] and (b > 1 or n in NETWORKS)]
    times = {(impl, net, batch): [] for net, batch in configs for impl in impls[net]}
    for repeat in range(args.repeats):
        for net, batch in configs:
            images = args.batch1_images if batch == 1 else args.images
            # Take turns, starting with a different implementation each repetition.
            turn = repeat % len(impls[net])
            for impl in impls[net][turn:] + impls[net][:turn]:
                runs = times[impl, net, batch]
                if None not in runs:
                    runs.append(measure(impl, net, batch, images, args.data_dir))
                    print(f"  repeat {repeat + 1}: {impl:5} {net} batch {batch}: {runs[-1]}", flush=True)
    columns = [i for i in IMPLEMENTATIONS if any(i in impls[net] for net, _ in configs)]
    print(f"\nTraining, plain SGD, float32, median of {args.repeats}; ratios are zoo's samples/s over the other's")
    print("(s: seconds for the images timed: a full epoch, or a slice of one at batch size 1)\n")
    speed_table(times, columns, configs, args, "train")
    if args.images == 60000:  # the goals are for whole epochs
        lenet.print_goals({batch: time_ratio(times, lenet.NETWORK, batch) for batch in lenet.GOALS})
    print(
        "\nThe same runs in CPU seconds (all threads; with --threads 1, what a quiet machine's wall clock would show)\n"
    )
    speed_table(times, columns, configs, args, "cpu")
    print("\nEvaluation on the 10k test set after the largest batch's runs: samples/s and test accuracy (median)\n")
    rows = []
    for net in dict.fromkeys(net for net, _ in configs):
        batch = max(b for n, b in configs if n == net)
        rates = [median(times, i, net, batch, "eval") for i in columns]
        accuracy = [median(times, i, net, batch, "accuracy") for i in columns]
        rows.append([net, str(batch)] + [cell(10000 / r if r else None, ",.0f") for r in rates])
        rows[-1] += [cell(a, ".2%") for a in accuracy]
    print_table(["network", "batch"] + [f"{i} samples/s" for i in columns] + [f"{i} accuracy" for i in columns], rows)
    return times


def median(times, impl, net, batch, key) -> float | None:
    """The median of ``key`` over the runs of one measurement; None if it was not made or failed."""
    runs = times.get((impl, net, batch))
    return statistics.median(r[key] for r in runs) if runs and None not in runs else None


def time_ratio(times, net, batch) -> float | None:
    """zoo's training seconds over PyTorch's, if both were measured."""
    zoo, torch = median(times, "zoo", net, batch, "train"), median(times, "torch", net, batch, "train")
    return zoo / torch if zoo and torch else None


def cell(value, spec) -> str:
    return "—" if value is None else format(value, spec)


def speed_table(times, impls, configs, args, key) -> None:
    head = ["network", "batch", "images"] + [f"{i} s" for i in impls] + [f"{i} samples/s" for i in impls]
    others = [i for i in ("torch", "numpy", "blas") if i in impls]
    head += [f"zoo/{i}" for i in others] + (["zoo time / hand-written"] if "blas" in impls else [])
    rows = []
    for net, batch in configs:
        images = args.batch1_images if batch == 1 else args.images
        seconds = {impl: median(times, impl, net, batch, key) for impl in impls}
        rate = {impl: images / s if s else None for impl, s in seconds.items()}
        ratios = [rate["zoo"] / rate[i] if rate.get("zoo") and rate.get(i) else None for i in others]
        rows.append(
            [net, str(batch), f"{images}"]
            + [cell(seconds[i], ".2f") for i in impls]
            + [cell(rate[i], ",.0f") for i in impls]
            + [cell(ratio, ".2f") + ("x" if ratio else "") for ratio in ratios]
        )
        if "blas" in impls:
            hand = seconds["blas"]
            rows[-1].append(cell(seconds["zoo"] / hand if hand and seconds.get("zoo") else None, ".2f"))
    print_table(head, rows)


def floor_table(networks) -> None:
    (peak, peak_cpu), (representative, representative_cpu) = gemm_rate(1024, 1024, 1024), gemm_rate(128, 784, 512)
    print(
        f"\nNumPy float32 GEMM, GFLOP/s per wall second (per CPU second): {peak:.1f} ({peak_cpu:.1f}) at "
        f"1024x1024x1024, {representative:.1f} ({representative_cpu:.1f}) at 128x784x512"
    )
    print("GEMM-bound floor of one training epoch (60k images) at the 128x784x512 rate:\n")
    rows = []
    for net in networks:
        per_sample = lenet.flops_per_sample() if net == lenet.NETWORK else flops_per_sample(NETWORKS[net])
        flops = per_sample * 60000 / 1e9
        rows.append([net, f"{flops:.1f}", f"{flops / representative:.2f}", f"{flops / representative_cpu:.2f}"])
    print_table(["network", "GFLOP/epoch", "floor s", "floor CPU s"], rows)


def print_table(head, rows) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(head, *rows)]
    for row in [head, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    networks = [*NETWORKS, lenet.NETWORK]
    impls = [i for i in IMPLEMENTATIONS if i != "torch" or importlib.util.find_spec("torch")]
    parser.add_argument(
        "--networks", nargs="+", choices=networks, default=networks, metavar="NET", help=", ".join(networks)
    )
    parser.add_argument(
        "--implementations",
        nargs="+",
        choices=IMPLEMENTATIONS,
        default=impls,
        metavar="IMPL",
        help=f"{', '.join(IMPLEMENTATIONS)} (default: those installed)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="repetitions per measurement (median shown)")
    parser.add_argument("--batches", type=int, nargs="+", default=list(BATCHES), help="batch sizes to measure")
    parser.add_argument("--images", type=int, default=60000, help="images timed at batch sizes above 1")
    parser.add_argument("--batch1-images", type=int, default=5000, help="images timed at batch size 1")
    parser.add_argument(
        "--threads", type=int, default=cores(), help="BLAS and PyTorch threads per measurement (default: the cores)"
    )
    parser.add_argument("--data-dir", help="directory holding the MNIST files (else $ZOO_DATA, ...)")
    parser.add_argument("--rss", nargs="?", const="*", metavar="PATTERN", help="peak RSS of `zoo train` per entry")
    parser.add_argument("--time-to-accuracy", action="store_true", help="tuned 784-512-10 to 98 %%; seed 004")
    parser.add_argument("--skip-throughput", action="store_true", help="only the optional parts")
    quick = " ".join(f"--{key.replace('_', '-')} {value}" for key, value in QUICK.items())
    parser.add_argument("--quick", action="store_true", help=f"{quick}; --rss trains {QUICK_RSS_STEPS} steps")
    parser.add_argument("--measure", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        return measure_here(args)
    if args.quick:  # new defaults: options given still win
        parser.set_defaults(**QUICK)
        args = parser.parse_args()
    threads = {name: str(args.threads) for name in THREAD_VARIABLES}
    if any(os.environ.get(name) != value for name, value in threads.items()):
        # Thread pools are sized when the libraries load: start again with the variables set (children inherit them).
        os.execve(sys.executable, [sys.executable, __file__, *sys.argv[1:]], os.environ | threads)
    print(f"{cores()} cores, {args.threads} threads per measurement; numpy {np.__version__}, {blas()}", flush=True)
    if not args.skip_throughput:
        throughput_table(args)
        floor_table(args.networks)
    if args.time_to_accuracy:
        seconds, reached, cpu = time_to_accuracy(args.data_dir)
        when = f"{seconds:.1f} s of training" if seconds is not None else "never, in its full budget"
        print(
            f"\n{TUNED_512}: {TARGET_ACCURACY:.1%} test accuracy after {when} ({reached:.2%} at that epoch's end; "
            f"{cpu:.1f} CPU s with the evaluations)"
        )
        seconds, test, cpu = seed_004(args.data_dir)
        print(
            f"{SEED_004}: 5 epochs of online SGD in {seconds:.1f} s of training ({cpu:.1f} CPU s), "
            f"test accuracy {test:.2%}"
        )
    if args.rss:
        rss_table(args.rss, args.data_dir, [f"train.steps={QUICK_RSS_STEPS}"] if args.quick else [])


def blas() -> str:
    """numpy's BLAS and the kernel it runs, as threadpoolctl reports them; says if the kernel was forced."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS kernel not known (no threadpoolctl)"
    found = [f"{i['internal_api']} {i['version']} {i.get('architecture', '')}" for i in threadpool_info()]
    forced = [f"{name}={os.environ[name]}" for name in FORCED_KERNEL if name in os.environ]
    return ", ".join(found) + (f" (forced by {' '.join(forced)}: see benchmarks/README.md)" if forced else "")


def rss_table(pattern, data_dir, overrides) -> None:
    from zoo.entries import matching
    from zoo.loading import default_catalog

    budget = f"--set {overrides[0]}" if overrides else "full budget"
    print(f"\nPeak RSS of `zoo train NAME` ({budget}, full MNIST), entries matching {pattern!r}:\n")
    rows = []
    for name in matching(default_catalog().names("model"), pattern):
        mib, status = peak_rss(name, data_dir, overrides)
        status = "ok" if status == 0 else f"exit {status}"
        rows.append([name, f"{mib:.0f}", f"{mib * 2**20 / 1e6:.0f}", status, lenet.rss_goal(name, mib)])
        print(f"  {name}: {mib:.0f} MiB", flush=True)
    print_table(["entry", "peak RSS MiB", "MB", "status", "issue 11's goal"], rows)


if __name__ == "__main__":
    main()
