"""Where zoo's LeNet-5 time goes: whole epochs through zoo's training loop, then each layer's forward and backward.

    ZOO_DATA=../shared/data python benchmarks/conv_profile.py                      # batch 128 and 32, 3 epochs each
    ZOO_DATA=../shared/data python benchmarks/conv_profile.py --batch 32 --images 20000 --repeat 5
    ZOO_DATA=../shared/data python benchmarks/conv_profile.py --threads 1 --layers-only
    ZOO_DATA=../shared/data python benchmarks/conv_profile.py --entry tuned-cnn-16-32-bn-augment --layers-only

The network is issue 11's LeNet-5: conv 6@5x5 same, ReLU, max-pool 2, conv 16@5x5, ReLU,
max-pool 2, flatten, dense 120, ReLU, dense 84, ReLU, dense 10; softmax cross-entropy,
plain SGD, float32, shuffled batches of the 60k MNIST training images. An epoch is
``zoo.training.train`` on an entry made with ``ModelEntry.from_table`` (no validation split,
no test pass), timed by the loop's own ``train_seconds``; ``--images`` times a fraction
and scales it to 60k. The layer table builds the same network and times every layer's
passes on real batches, minimum and median over ``--steps`` steps; the rows add up to a step.
``--entry NAME`` profiles a registry entry's layers, loss and optimizer instead (its
batches, augmentation and schedule are left out: the table is the network's step).
On a shared machine the minimum of the repetitions is the steadier figure; the spread
between minimum and median says how noisy the run was.
"""

import argparse
import os
import statistics
import time

from lenet import LAYERS as LENET  # the network throughput.py races against PyTorch

EPOCH = 60_000


def entry_for(batch: int, steps: int, catalog, name: str | None = None):
    """LeNet-5 with plain SGD, or the registry entry ``name``'s layers, loss and optimizer; ``batch``-sized batches."""
    from zoo.config import ModelEntry

    table = {
        "layers": LENET,
        "loss": {"type": "softmax_cross_entropy"},
        "optimizer": {"type": "sgd", "lr": 0.05},
    }
    if name:
        registered, _ = catalog.get("model", name).factory()
        table = {key: registered[key] for key in ("layers", "loss", "optimizer") if key in registered}
    table |= {"batches": {"type": "shuffled", "size": batch}, "train": {"steps": steps, "log_every": steps}}
    return ModelEntry.from_table(name or "lenet-5-profile", table, "benchmarks/conv_profile.py", catalog)


def time_epochs(data, catalog, batch: int, images: int, repeat: int, name: str | None) -> list[float]:
    """Seconds per 60k images, one figure per repetition, each a fresh network through ``zoo.training.train``.

    Also printed: the process's CPU seconds over the same run (all threads), scaled alike,
    which on a busy machine says how much of the wall time was spent waiting for a core.
    """
    from zoo.splits import Splits
    from zoo.training import train

    empty = data.train_images[:0], data.train_labels[:0]
    splits = Splits(data.train_images, data.train_labels, *empty, data.test_images, data.test_labels, data.classes)
    steps = -(-images // batch)
    scale = EPOCH / (steps * batch)
    seconds = []
    for seed in range(repeat):
        cpu = time.process_time()
        _, result = train(entry_for(batch, steps, catalog, name), splits, catalog, seed=seed, test=False)
        cpu = time.process_time() - cpu
        seconds.append(result.train_seconds * scale)
        record = result.history[-1]
        print(
            f"  batch {batch:4d}: {seconds[-1]:6.2f} s per epoch  ({cpu * scale:.2f} s CPU; "
            f"train loss {record.loss:.3f}, acc {record.train_accuracy:.3f})",
            flush=True,
        )
    return seconds


def time_layers(data, catalog, batch: int, steps: int, name: str | None) -> None:
    """Minimum and median milliseconds of every layer's forward and backward, the loss and the optimizer step."""
    import numpy as np

    from zoo.batching import BatchMaker
    from zoo.config import create
    from zoo.network import build_network

    entry = entry_for(batch, steps, catalog, name)
    network = build_network(entry, catalog, (1, 28, 28), 10, np.random.SeedSequence(0))
    optimizer = create(entry.optimizer, catalog)
    optimizer.setup(network.params)
    maker = BatchMaker(data.train_images, network.dtype)
    order = np.random.default_rng(0).permutation(len(data.train_labels))
    names = [f"{i:2d} {spec.ref.type}" for i, spec in enumerate(entry.layers)]
    times = {(name, part): [] for name in [*names, "loss", "sgd step", "batch"] for part in ("forward", "backward")}
    clock = time.perf_counter
    for step in range(steps + 3):  # the first steps allocate the buffers: not timed
        index = order[(step * batch) % (len(order) - batch) :][:batch]
        t = clock()
        x, y = maker.make(index).reshape(batch, 1, 28, 28), data.train_labels[index]
        spans = [("batch", "forward", clock() - t)]
        for name, layer in zip(names, network.layers):
            t = clock()
            x = layer.forward(x, True)
            spans.append((name, "forward", clock() - t))
        t = clock()
        network.loss.forward(x, y)
        dy = network.loss.backward()
        spans.append(("loss", "forward", clock() - t))
        for i in range(len(names) - 1, -1, -1):
            t = clock()
            dy = network.layers[i].backward(dy, need_dx=i > 0)
            spans.append((names[i], "backward", clock() - t))
        t = clock()
        optimizer.step(network.params)
        spans.append(("sgd step", "forward", clock() - t))
        if step >= 3:
            for name, part, seconds in spans:
                times[name, part].append(seconds)
    print(f"\nper step at batch {batch}, ms over {steps} steps (minimum / median):")
    print(f"  {'layer':16s} {'forward':>15s} {'backward':>15s}")
    totals = [0.0, 0.0]
    for name in [*names, "loss", "sgd step", "batch"]:
        cells = []
        for part in ("forward", "backward"):
            spans = times[name, part] or [0.0]
            low, mid = min(spans) * 1e3, statistics.median(spans) * 1e3
            totals[0] += low
            totals[1] += mid
            cells.append(f"{low:7.3f} {mid:7.3f}")
        print(f"  {name:16s} {cells[0]} {cells[1]}")
    low, mid = (total * EPOCH / batch / 1e3 for total in totals)
    print(f"  sum: {totals[0]:.2f} / {totals[1]:.2f} ms per step -> {low:.2f} / {mid:.2f} s per epoch")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, action="append", help="batch size (repeatable; default 128 and 32)")
    parser.add_argument("--images", type=int, default=EPOCH, help="images per timed run (default a whole epoch)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per batch size")
    parser.add_argument("--steps", type=int, default=50, help="steps of the per-layer table (0: no table)")
    parser.add_argument("--threads", type=int, help="BLAS threads (default: OpenBLAS's own choice)")
    parser.add_argument("--entry", help="profile this registry entry's network instead of LeNet-5")
    parser.add_argument("--layers-only", action="store_true", help="skip the whole epochs")
    args = parser.parse_args()
    if args.threads:  # must precede the first import of numpy
        for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[variable] = str(args.threads)
    from zoo.loading import default_catalog

    catalog = default_catalog()
    data = catalog.get("dataset", "mnist").factory(data_dir=os.environ.get("ZOO_DATA"))
    batches = args.batch or [128, 32]
    threads, load = args.threads or "default", os.getloadavg()[0]
    print(f"{args.entry or 'LeNet-5'}, float32, BLAS threads: {threads}, load average {load:.1f}")
    for batch in batches:
        if not args.layers_only:
            seconds = time_epochs(data, catalog, batch, args.images, args.repeat, args.entry)
            print(f"batch {batch}: min {min(seconds):.2f} s, median {statistics.median(seconds):.2f} s per epoch")
        if args.steps:
            time_layers(data, catalog, batch, args.steps, args.entry)


if __name__ == "__main__":
    main()
