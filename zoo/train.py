"""Training a registry entry: data, network, optimizer and batch schedule wired together and run."""

import math
import time
from collections.abc import Callable

import attrs
import numpy as np

from zoo.batching import BatchMaker
from zoo.catalog import Catalog
from zoo.config import ModelEntry, create
from zoo.data import ImageData
from zoo.errors import ConfigError, DivergenceError
from zoo.evaluate import accuracy
from zoo.network import Network, build_network
from zoo.splits import Splits, split


@attrs.frozen
class LogRecord:
    """Metrics at one log point: mean loss and accuracy of the training batches since the last point."""

    epoch: float
    step: int
    loss: float
    train_accuracy: float
    val_accuracy: float | None
    seconds: float


@attrs.frozen
class TrainResult:
    """What a training run produced. ``train_seconds`` counts training steps only, not evaluation."""

    name: str
    seed: int
    history: tuple[LogRecord, ...]
    test_accuracy: float
    val_accuracy: float | None
    train_seconds: float
    params: int

    def summary(self) -> dict:
        return {
            "name": self.name,
            "seed": self.seed,
            "test_accuracy": self.test_accuracy,
            "val_accuracy": self.val_accuracy,
            "train_seconds": round(self.train_seconds, 3),
            "params": self.params,
            "history": [attrs.asdict(record) for record in self.history],
        }


def seeds(seed: int) -> dict[str, np.random.SeedSequence]:
    """Independent seed streams, so e.g. adding augmentation does not change the initial weights."""
    names = ("split", "layers", "batches", "augment")
    return dict(zip(names, np.random.SeedSequence(seed).spawn(len(names))))


@np.errstate(over="ignore", invalid="ignore")  # overflow surfaces as a non-finite loss, reported below
def train(
    entry: ModelEntry,
    splits: Splits,
    catalog: Catalog,
    seed: int | None = None,
    on_log: Callable[[LogRecord], None] = lambda record: None,
    on_step: Callable[[int, int], None] = lambda step, total: None,
) -> tuple[Network, TrainResult]:
    """Train ``entry`` on ``splits``; ``seed`` (default: the entry's) fixes every random draw."""
    seed = entry.seed_for(seed)
    streams = seeds(seed)
    network = build_network(entry, catalog, splits.in_features, len(splits.classes), streams["layers"])
    optimizer = create(entry.optimizer, catalog)
    optimizer.setup(network.params)
    schedule = create(entry.batches, catalog)
    augmenters = [create(ref, catalog) for ref in entry.augment]
    images, labels = splits.train_images, splits.train_labels
    maker = BatchMaker(images, network.dtype, augmenters, np.random.default_rng(streams["augment"]))
    val_maker = BatchMaker(splits.val_images, network.dtype) if len(splits.val_labels) else None
    batches = schedule.iterate(len(labels), np.random.default_rng(streams["batches"]))

    per_epoch = schedule.steps_per_epoch(len(labels))
    if per_epoch < 1:
        raise ConfigError(
            f"{entry.batches.where}: {entry.batches.type} makes no batch from {len(labels)} training samples"
        )
    total = entry.train.steps or entry.train.epochs * per_epoch
    log_every = entry.train.log_every or per_epoch
    tick = max(1, total // 200)
    history, loss_sum, correct, seen, seconds = [], 0.0, 0, 0, 0.0
    started = time.perf_counter()
    for step in range(total):
        if step % per_epoch == 0:
            optimizer.start_epoch(step // per_epoch)
        index = next(batches)
        x, y = maker.make(index), labels[index]
        output = network.forward(x, training=True)
        loss = network.loss.forward(output, y)
        if not math.isfinite(loss):
            raise DivergenceError(_divergence_message(entry, step, per_epoch, loss))
        loss_sum += loss * len(y)
        correct += int(np.count_nonzero(output.argmax(axis=1) == y))
        seen += len(y)
        network.backward()
        optimizer.step(network.params)
        if (step + 1) % tick == 0:
            on_step(step + 1, total)
        if (step + 1) % log_every == 0 or step + 1 == total:
            seconds += time.perf_counter() - started
            val = accuracy(network, splits.val_images, splits.val_labels, val_maker) if val_maker else None
            record = LogRecord((step + 1) / per_epoch, step + 1, loss_sum / seen, correct / seen, val, seconds)
            history.append(record)
            on_log(record)
            loss_sum, correct, seen = 0.0, 0, 0
            started = time.perf_counter()
    result = TrainResult(
        name=entry.name,
        seed=seed,
        history=tuple(history),
        test_accuracy=accuracy(network, splits.test_images, splits.test_labels),
        val_accuracy=history[-1].val_accuracy,
        train_seconds=seconds,
        params=sum(p.value.size for p in network.params),
    )
    return network, result


def load_data(entry: ModelEntry, catalog: Catalog, data_dir=None) -> ImageData:
    """The entry's dataset, as stored."""
    return catalog.get("dataset", entry.data.dataset).factory(data_dir=data_dir)


def load_splits(entry: ModelEntry, catalog: Catalog, seed: int | None = None, data_dir=None) -> Splits:
    """The entry's dataset, split as it asks (a random split draws from the seed, default the entry's)."""
    rng = np.random.default_rng(seeds(entry.seed_for(seed))["split"])
    return split(load_data(entry, catalog, data_dir), entry.data, rng, f"{entry.source}: data.validation")


def _divergence_message(entry: ModelEntry, step: int, per_epoch: int, loss: float) -> str:
    own = [f"layers.{i}.lr={spec.lr}" for i, spec in enumerate(entry.layers) if spec.lr is not None]
    lr = entry.optimizer.options.get("lr")
    if own:
        advice = f"the learning rates ({', '.join(own)}) are probably too high: lower them with --set"
    elif lr is not None:
        advice = f"learning rate {lr} is probably too high: try --set optimizer.lr=<smaller>"
    else:
        advice = "the learning rate is probably too high: try --set optimizer.lr=<smaller>"
    return (
        f"{entry.name}: training diverged at step {step + 1} (epoch {step // per_epoch + 1}): loss is {loss}; {advice}"
    )
