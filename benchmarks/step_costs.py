"""Where one zoo training step goes, by cause: each layer's forward and backward, the loss, batch making, the rest.

    ZOO_DATA=../shared/data python benchmarks/step_costs.py [--net 784-512-10] [--batch 128] [--threads 2]

Builds the plain-SGD MLP of benchmarks/throughput.py, warms it up, then times each part of
the step on its own (median of many repetitions, in microseconds) and a whole step of
``zoo.training.train``; "the rest" is the whole step minus the parts (the loop's own
bookkeeping). Matrix products are listed apart from the element-wise work around them, and
the GEMM-bound floor of the step (its FLOPs at the measured 128x784x512 GEMM rate) is shown
for comparison; at batch size 1, so are the level-2 BLAS calls alone (``gemv`` forward and for
dx, ``ger`` for the update), the floor of a one-sample step.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def timed(work, repeats: int) -> float:
    """Median microseconds of ``work()`` over ``repeats`` runs, after a few warm-up runs."""
    for _ in range(5):
        work()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", default="784-512-10", help="widths of the MLP (default 784-512-10)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    threads = {name: str(args.threads) for name in THREAD_VARIABLES}
    if any(os.environ.get(name) != value for name, value in threads.items()):  # BLAS reads them when it loads
        os.execve(sys.executable, [sys.executable, __file__, *sys.argv[1:]], os.environ | threads)

    from throughput import flops_per_sample, gemm_rate, mnist

    from zoo.batching import BatchMaker
    from zoo.config import ModelEntry, create
    from zoo.loading import default_catalog
    from zoo.network import build_network
    from zoo.optim import DescentRates
    from zoo.splits import Splits
    from zoo.training import train

    widths = [int(w) for w in args.net.split("-")]
    catalog = default_catalog()
    layers = [layer for units in widths[1:-1] for layer in ({"type": "dense", "units": units}, {"type": "relu"})]
    table = {
        "layers": [*layers, {"type": "dense", "units": widths[-1]}],
        "loss": {"type": "softmax_cross_entropy"},
        "optimizer": {"type": "sgd", "lr": 0.01},
        "batches": {"type": "shuffled", "size": args.batch},
        "train": {"steps": 2000, "log_every": 2000},
    }
    entry = ModelEntry.from_table("step-costs", table, "benchmarks/step_costs.py", catalog)
    data = mnist(None)
    network = build_network(entry, catalog, data.train_images.shape[1:], 10, np.random.SeedSequence(0))
    optimizer = create(entry.optimizer, catalog)
    optimizer.setup(network.params)
    maker = BatchMaker(data.train_images, network.dtype)
    index = np.random.default_rng(0).permutation(len(data.train_labels))[: args.batch]
    x, y = maker.make(index), data.train_labels[index]
    inputs = [x.reshape((len(x), *network.in_shape))]
    for layer in network.layers:
        inputs.append(layer.forward(inputs[-1], True).copy())
    grads = [np.random.default_rng(1).standard_normal(a.shape).astype(np.float32) * 1e-3 for a in inputs]
    rates = DescentRates(optimizer, "step_costs")(network.params)
    parts = [("make the batch (gather, scale)", lambda: maker.make(index))]
    for i, layer in enumerate(network.layers):
        name = f"layer {i} {type(layer).__name__.lower()}"
        parts.append((f"{name} forward", lambda i=i, layer=layer: layer.forward(inputs[i], True)))
    output = inputs[-1]
    parts.append(("loss forward", lambda: network.loss.forward(output, y)))
    parts.append(("training accuracy count", lambda: int(np.count_nonzero(output.argmax(axis=1) == y))))
    parts.append(("loss backward", lambda: (network.loss.forward(output, y), network.loss.backward())))
    for i, layer, own, fused in network._descents:  # last layer first, as backward_descent walks them
        name = f"layer {i} {type(layer).__name__.lower()}"
        if fused is not None and rates is not None:
            parts.append(
                (f"{name} backward + update", lambda i=i, f=fused, o=own: f(grads[i + 1], rates[o], need_dx=i > 0))
            )
        else:
            parts.append((f"{name} backward", lambda i=i, layer=layer: layer.backward(grads[i + 1], need_dx=i > 0)))
    costs = [(name, timed(work, args.repeats)) for name, work in parts]
    loss_forward = dict(costs)["loss forward"]  # backward consumes what forward stored: timed together
    costs = [(name, cost - loss_forward if name == "loss backward" else cost) for name, cost in costs]

    steps = 2000
    empty = data.train_images[:0], data.train_labels[:0]
    splits = Splits(data.train_images, data.train_labels, *empty, data.test_images, data.test_labels, data.classes)
    _, result = train(entry, splits, catalog, test=False)
    step = result.train_seconds / steps * 1e6
    rate, _ = gemm_rate(128, 784, 512)
    floor = flops_per_sample(widths) * args.batch / (rate * 1e9) * 1e6

    print(f"{args.net}, batch {args.batch}, {args.threads} BLAS threads: microseconds per step (median)\n")
    print(f"{'part':40s} {'us':>9s} {'share':>7s}")
    for name, cost in costs:
        print(f"{name:40s} {cost:9.1f} {cost / step:7.1%}")
    rest = step - sum(cost for _, cost in costs)
    print(f"{'the rest (loop bookkeeping)':40s} {rest:9.1f} {rest / step:7.1%}")
    print(f"{'whole step in zoo.training.train':40s} {step:9.1f}")
    print(f"\nGEMM-bound floor of the step: {floor:.1f} us ({rate:.1f} GFLOP/s at 128x784x512)", end="; ")
    print(f"step/floor {step / floor:.2f}")
    if args.batch == 1:
        blas_floor = level2_floor(widths, args.repeats)
        print(
            f"BLAS calls alone (gemv, gemv for dx, ger per layer; on vectors made once): {blas_floor:.1f} us", end="; "
        )
        print(f"step/that {step / blas_floor:.2f}")


def level2_floor(widths: list[int], repeats: int) -> float:
    """Microseconds of the level-2 BLAS calls a one-sample step of the MLP cannot avoid, each timed alone."""
    from scipy.linalg import blas

    total = 0.0
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        WT = np.ones((n_in, n_out), np.float32).T  # Fortran-ordered, as dense hands it to BLAS
        x, y = np.ones(n_in, np.float32), np.ones(n_out, np.float32)
        total += timed(lambda: blas.sgemv(1.0, WT, x, y=y, overwrite_y=1), repeats)
        if i:  # the first layer needs no dx
            total += timed(lambda: blas.sgemv(1.0, WT, y, trans=1, y=x, overwrite_y=1), repeats)
        total += timed(lambda: blas.sger(-1e-9, y, x, a=WT, overwrite_a=1), repeats)
    return total


if __name__ == "__main__":
    main()
