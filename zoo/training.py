"""Training a registry entry: data, network, optimizer and batch schedule wired together and run."""

import contextlib
import math
import time
from collections.abc import Callable

import attrs
import numpy as np

from zoo.averaging import WeightAverage
from zoo.batching import BatchMaker
from zoo.blas_pool import numpy_blas_single_threaded_for, scipy_blas_single_threaded
from zoo.catalog import Catalog
from zoo.checkpoint import Checkpoint, CheckpointError
from zoo.clipping import clip_global_norm
from zoo.config import ModelEntry, create
from zoo.data import ImageData
from zoo.datasets import load_dataset
from zoo.early_stopping import BestWeights
from zoo.errors import ConfigError, DivergenceError, ZooError
from zoo.evaluate import evaluate, predict
from zoo.network import Network, build_network
from zoo.optim import DescentRates
from zoo.prefetch import batch_feed
from zoo.schedule import check_schedule, checked_multiplier
from zoo.splits import Splits, split


class Interrupted(ZooError):
    """Training stopped on request (Ctrl-C) after step ``step``, a checkpoint having been offered first."""

    exit_code = 130  # as a shell reports a command ended by Ctrl-C

    def __init__(self, name: str, step: int, total: int):
        self.name, self.step, self.total = name, step, total
        super().__init__(f"{name}: interrupted after step {step} of {total}")

    def __reduce__(self):  # picklable, to cross from a worker process
        return type(self), (self.name, self.step, self.total)


@attrs.frozen
class LogRecord:
    """Metrics at one log point: mean loss and accuracy of the training batches since the last point,
    and loss and accuracy on the validation split (None without one)."""

    epoch: float
    step: int
    loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    seconds: float

    def line(self, label: str) -> str:
        """One human-readable log line, prefixed with ``label``."""
        val = "" if self.val_accuracy is None else f"  val loss {self.val_loss:.4f}  val acc {self.val_accuracy:.4f}"
        return (
            f"{label}  epoch {self.epoch:6.2f}  step {self.step:7d}  loss {self.loss:.4f}"
            f"  train acc {self.train_accuracy:.4f}{val}  {self.seconds:7.1f} s"
        )


@attrs.frozen
class TrainResult:
    """What a training run produced. ``train_seconds`` counts training steps only, not evaluation.

    ``kept_epoch`` is the epoch whose weights were kept (the last, unless early stopping kept the best
    one) and ``ended`` says why training ended: ``"budget"`` or ``"early stopping"``.
    """

    name: str
    seed: int
    history: tuple[LogRecord, ...]
    test_accuracy: float | None
    val_accuracy: float | None
    train_seconds: float
    params: int
    test_predictions: np.ndarray | None = attrs.field(eq=False, repr=False)
    kept_epoch: float | None = None
    ended: str = "budget"
    test_time_shifts: int = 0
    """The ``[test_time]`` shifts the test accuracy was measured with (validation sees each image alone)."""

    def summary(self) -> dict:
        return {
            "name": self.name,
            "seed": self.seed,
            "test_accuracy": self.test_accuracy,
            "test_time_shifts": self.test_time_shifts,
            "val_accuracy": self.val_accuracy,
            "train_seconds": round(self.train_seconds, 3),
            "params": self.params,
            "kept_epoch": self.kept_epoch,
            "ended": self.ended,
            "history": [attrs.asdict(record) for record in self.history],
        }


@attrs.define
class _Progress:
    """The running sums of the current log interval, the seconds trained so far and the log so far."""

    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    seconds: float = 0.0
    history: list[LogRecord] = attrs.field(factory=list)


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
    *,
    checkpoint_every: int = 0,
    on_checkpoint: Callable[[Checkpoint], None] = lambda checkpoint: None,
    resume: Checkpoint | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    test: bool = True,
) -> tuple[Network, TrainResult]:
    """Train ``entry`` on ``splits``; ``seed`` (default: the entry's) fixes every random draw.

    Every ``checkpoint_every`` steps, and before stopping because ``should_stop()`` turned true
    (checked before each step; then :class:`Interrupted` is raised), the state is handed to
    ``on_checkpoint``. Training from ``resume`` ends bit-identical to a run never stopped.
    With ``test`` false the test set is not touched (a sweep evaluates only the setting it selects).
    """
    seed = entry.seed_for(seed)
    streams = seeds(seed)
    network = build_network(entry, catalog, splits.in_shape, len(splits.classes), streams["layers"])
    optimizer = create(entry.optimizer, catalog)
    optimizer.setup(network.params)
    batch_order = create(entry.batches, catalog)
    has_validation = len(splits.val_labels) > 0
    lr_schedule = create(entry.schedule, catalog) if entry.schedule else None
    if lr_schedule is not None:
        check_schedule(
            lr_schedule,
            entry.schedule.where,
            has_validation=has_validation,
            optimizer=optimizer,
            optimizer_where=entry.optimizer.where,
        )
    stopping = entry.train.early_stopping
    if stopping and not has_validation:
        raise ConfigError(
            f"{entry.source}: train.early_stopping: watches {stopping.monitor}, "
            "but these splits have no validation images"
        )
    augmenters = [create(ref, catalog) for ref in entry.augment]
    images, labels = splits.train_images, splits.train_labels
    if augmenters and images.ndim != 3:
        raise ConfigError(
            f"{entry.augment[0].where}: augmenters take one-channel batches (N, H, W), "
            f"but {entry.data.dataset} has samples of shape {splits.in_shape}"
        )
    augment_rng = np.random.default_rng(streams["augment"])
    maker = BatchMaker(images, network.dtype, augmenters, augment_rng, network.in_shape)
    val_maker = BatchMaker(splits.val_images, network.dtype) if len(splits.val_labels) else None
    batches = batch_order.iterate(len(labels), np.random.default_rng(streams["batches"]))

    per_epoch = batch_order.steps_per_epoch(len(labels))
    if per_epoch < 1:
        raise ConfigError(
            f"{entry.batches.where}: {entry.batches.type} makes no batch from {len(labels)} training samples"
        )
    total = entry.train.steps or entry.train.epochs * per_epoch
    log_every = entry.train.log_every or per_epoch
    tick = max(1, total // 200)
    if lr_schedule is not None:
        lr_schedule.setup(per_epoch, total)
    observes = callable(getattr(lr_schedule, "observe", None))
    best = BestWeights.of(stopping, network.state()) if stopping else None
    average = WeightAverage.of(entry.train.average, network.state()) if entry.train.average else None
    clip_norm = entry.train.clip_norm
    rates_of = DescentRates(optimizer, entry.optimizer.where)
    progress, first, ended = _Progress(), 0, "budget"
    if checkpoint_every or resume:
        _check_checkpointable(entry, optimizer, lr_schedule)
    if resume is not None:
        first, progress = _restore(resume, network, optimizer, augment_rng, entry, lr_schedule, best, average)
        for _ in range(first):  # replay the batch order up to where the run stopped
            next(batches)
        if first % per_epoch:
            optimizer.start_epoch(first // per_epoch)
    source = f"{entry.batches.where} ({entry.batches.type})"
    feed = batch_feed(maker, labels, batches, total - first, source)  # augmented batches are made a step ahead

    def snapshot(step: int) -> Checkpoint:
        state = attrs.asdict(progress, recurse=False) | {"history": [attrs.asdict(r) for r in progress.history]}
        state["seconds"] += time.perf_counter() - started
        if best is not None:
            state["early_stopping"] = best.progress()
        if average is not None:
            state["average_updates"] = average.updates
        return Checkpoint(
            step=step,
            params={k: v.copy() for k, v in network.state().items()},
            optimizer={k: np.array(v, copy=True) for k, v in optimizer.state().items()},
            rngs={"layers": [r.bit_generator.state for r in network.rngs], "augment": feed.augment_state()},
            progress=state,
            schedule={k: np.array(v, copy=True) for k, v in _schedule_state(lr_schedule).items()},
            best={k: v.copy() for k, v in best.weights.items()} if best is not None else {},
            average={k: v.copy() for k, v in average.arrays.items()} if average is not None else {},
        )

    started = time.perf_counter()
    # The feed's context stops the prefetching thread however the loop ends.
    with feed, scipy_blas_single_threaded(), numpy_blas_single_threaded_for(network):
        for step in range(first, total):
            if should_stop():
                if hasattr(optimizer, "state"):
                    on_checkpoint(snapshot(step))
                raise Interrupted(entry.name, step, total)
            if step % per_epoch == 0:
                optimizer.start_epoch(step // per_epoch)
            x, y = feed.take()
            output = network.forward(x, training=True)
            loss = network.loss.forward(output, y)
            if not math.isfinite(loss):
                raise DivergenceError(_divergence_message(entry, network, x, step, per_epoch, loss))
            progress.loss_sum += loss * len(y)
            # One sample: its row's argmax, without the array comparison and count (0.7 against 0.2 µs).
            hits = output[0].argmax() == y[0] if len(y) == 1 else np.count_nonzero(output.argmax(axis=1) == y)
            progress.correct += int(hits)
            progress.seen += len(y)
            if lr_schedule is not None:
                optimizer.scale_lr(checked_multiplier(lr_schedule, step, entry.schedule.where))
            _backward_and_update(network, optimizer, rates_of, clip_norm)
            if average is not None:
                average.update(network.state())
            if (step + 1) % tick == 0:
                on_step(step + 1, total)
            if (step + 1) % log_every == 0 or step + 1 == total:
                progress.seconds += time.perf_counter() - started
                # Validation, and early stopping's copy, see the model that is kept: the average, if any.
                with average.swapped_into(network) if average is not None else contextlib.nullcontext():
                    val_loss, val = (
                        evaluate(network, splits.val_images, splits.val_labels, val_maker)
                        if val_maker
                        else (None, None)
                    )
                    if val_loss is not None and not math.isfinite(val_loss):
                        raise DivergenceError(_validation_message(entry, network, val_maker, step, per_epoch, val_loss))
                p = progress
                record = LogRecord(
                    (step + 1) / per_epoch, step + 1, p.loss_sum / p.seen, p.correct / p.seen, val_loss, val, p.seconds
                )
                progress.history.append(record)
                on_log(record)
                progress.loss_sum, progress.correct, progress.seen = 0.0, 0, 0
                if observes:
                    lr_schedule.observe(attrs.asdict(record))
                if best is not None and best.observe(
                    getattr(record, stopping.monitor), step + 1, record.epoch, _kept_state(network, average)
                ):
                    ended = "early stopping"
                    break
                started = time.perf_counter()
            if checkpoint_every and (step + 1) % checkpoint_every == 0 and step + 1 < total:
                on_checkpoint(snapshot(step + 1))
    kept = progress.history[-1]
    if best is not None:
        network.load_state(best.weights)
        kept = next(r for r in progress.history if r.step == best.best_step)
    elif average is not None:
        network.load_state(average.arrays)
    predictions = predict(network, splits.test_images, entry=entry) if test else None
    result = TrainResult(
        name=entry.name,
        seed=seed,
        history=tuple(progress.history),
        test_accuracy=float(np.mean(predictions == splits.test_labels)) if test else None,
        val_accuracy=kept.val_accuracy,
        train_seconds=progress.seconds,
        params=sum(p.value.size for p in network.params),
        test_predictions=predictions,
        kept_epoch=kept.epoch,
        ended=ended,
        test_time_shifts=entry.test_time.shifts,
    )
    return network, result


def _backward_and_update(network: Network, optimizer, rates_of: DescentRates, clip_norm: float | None) -> None:
    """Backpropagate the last loss and update the parameters: fused into one pass through the layers when the
    optimizer's step is plain descent and no gradient clipping needs every gradient first."""
    rates = rates_of(network.params) if clip_norm is None else None
    if rates is not None:
        network.backward_descent(rates)
        return
    network.backward()
    if clip_norm is not None:
        clip_global_norm(network.params, clip_norm)
    optimizer.step(network.params)


def _kept_state(network: Network, average: WeightAverage | None) -> dict[str, np.ndarray]:
    """The state training keeps: the weight average's, if any, else the network's own."""
    return average.arrays if average is not None else network.state()


def _schedule_state(schedule) -> dict:
    return schedule.state() if callable(getattr(schedule, "state", None)) else {}


def _check_checkpointable(entry: ModelEntry, optimizer, schedule) -> None:
    if not (hasattr(optimizer, "state") and hasattr(optimizer, "load_state")):
        raise ConfigError(
            f"{entry.optimizer.where}: optimizer {entry.optimizer.type!r} cannot be checkpointed: "
            "it has no state()/load_state() methods (see zoo.optim.Optimizer)"
        )
    if callable(getattr(schedule, "observe", None)) and not (
        hasattr(schedule, "state") and hasattr(schedule, "load_state")
    ):
        raise ConfigError(
            f"{entry.schedule.where}: schedule {entry.schedule.type!r} cannot be checkpointed: it observes metrics "
            "but has no state()/load_state() methods (see zoo.schedule.Schedule)"
        )


def _restore(
    checkpoint: Checkpoint, network: Network, optimizer, augment_rng, entry: ModelEntry, schedule, best, average
):
    """Load ``checkpoint`` into the freshly built objects; the step to continue from and the progress."""
    expected = {k: (v.shape, v.dtype) for k, v in network.state().items()}
    found = {k: (v.shape, v.dtype) for k, v in checkpoint.params.items()}
    if found != expected or len(checkpoint.rngs["layers"]) != len(network.rngs):
        raise CheckpointError(f"{entry.name}: the checkpoint does not match the network this entry builds")
    network.load_state(checkpoint.params)
    try:
        optimizer.load_state(checkpoint.optimizer)
    except (KeyError, ValueError) as error:
        raise CheckpointError(f"{entry.name}: the checkpoint's optimizer state does not fit: {error}") from None
    for rng, state in zip(network.rngs, checkpoint.rngs["layers"]):
        rng.bit_generator.state = state
    augment_rng.bit_generator.state = checkpoint.rngs["augment"]
    saved = dict(checkpoint.progress)
    history = [LogRecord(**record) for record in saved.pop("history")]
    stopping = saved.pop("early_stopping", None)
    if (stopping is None) != (best is None) or (best is not None and checkpoint.best.keys() != best.weights.keys()):
        raise CheckpointError(f"{entry.name}: the checkpoint's early-stopping state does not match the entry")
    if best is not None:
        best.restore_progress(stopping, checkpoint.best)
    updates = saved.pop("average_updates", None)
    if (updates is None) != (average is None) or (
        average is not None and checkpoint.average.keys() != average.arrays.keys()
    ):
        raise CheckpointError(f"{entry.name}: the checkpoint's weight average does not match the entry")
    if average is not None:
        average.restore(int(updates), checkpoint.average)
    if checkpoint.schedule:
        try:
            schedule.load_state(checkpoint.schedule)
        except (AttributeError, KeyError, ValueError) as error:
            raise CheckpointError(f"{entry.name}: the checkpoint's schedule state does not fit: {error}") from None
    return checkpoint.step, _Progress(**saved, history=history)


def load_data(entry: ModelEntry, catalog: Catalog, data_dir=None) -> ImageData:
    """The entry's dataset, as stored, checked against the dataset contract (see :func:`zoo.datasets.load_dataset`)."""
    return load_dataset(catalog, entry.data.dataset, data_dir)


def load_splits(entry: ModelEntry, catalog: Catalog, seed: int | None = None, data_dir=None) -> Splits:
    """The entry's dataset, split as it asks (a random split draws from the seed, default the entry's)."""
    rng = np.random.default_rng(seeds(entry.seed_for(seed))["split"])
    return split(load_data(entry, catalog, data_dir), entry.data, rng, f"{entry.source}: data.validation")


def _divergence_message(entry: ModelEntry, network: Network, x, step: int, per_epoch: int, loss: float) -> str:
    own = [f"layers.{i}.lr={spec.lr}" for i, spec in enumerate(entry.layers) if spec.lr is not None]
    lr = entry.optimizer.options.get("lr")
    if own:
        advice = f"the learning rates ({', '.join(own)}) are probably too high: lower them with --set"
    elif lr is not None:
        advice = f"learning rate {lr} is probably too high: try --set optimizer.lr=<smaller>"
    else:
        advice = "the learning rate is probably too high: try --set optimizer.lr=<smaller>"
    return (
        f"{entry.name}: training diverged at step {step + 1} (epoch {step // per_epoch + 1}): loss is {loss}, "
        f"{_non_finite_parameters(entry, network) or _non_finite_output(entry, network, x) or _LOSS_OVERFLOWED}; "
        f"{advice}"
    )


def _validation_message(entry: ModelEntry, network: Network, val_maker, step: int, per_epoch: int, loss) -> str:
    """A non-finite validation loss while training's stayed finite: where the network's values go non-finite."""
    images = len(val_maker.images)
    # In chunks, as evaluation goes (a CNN's activations of 5k images are large), stopping at the first that tells.
    chunks = (val_maker.make(slice(start, min(images, start + 256))) for start in range(0, images, 256))
    outputs = (_non_finite_output(entry, network, chunk) for chunk in chunks)
    where = _non_finite_parameters(entry, network) or next(filter(None, outputs), _LOSS_OVERFLOWED)
    return (
        f"{entry.name}: the validation loss is {loss} at step {step + 1} (epoch {step // per_epoch + 1}) "
        f"though the training loss was finite: {where}"
    )


_LOSS_OVERFLOWED = "every layer's output is finite: the loss itself overflowed"


def _non_finite_parameters(entry: ModelEntry, network: Network) -> str | None:
    """The first layer whose parameters hold a non-finite value, or None."""
    for name, param in zip(network.param_names, network.params):
        if not np.isfinite(param.value).all():
            i = int(name.split(".")[1])
            return f"first non-finite in the parameters of layer {i} ({entry.layers[i].ref.type}, {name})"
    return None


def _non_finite_output(entry: ModelEntry, network: Network, x) -> str | None:
    """The first layer whose output on the batch ``x`` holds a non-finite value, or None."""
    x = x.reshape((len(x), *network.in_shape))
    for i, layer in enumerate(network.layers):
        x = layer.forward(x, training=False)
        if not np.isfinite(x).all():
            return f"first non-finite in the output of layer {i} ({entry.layers[i].ref.type})"
    return None
