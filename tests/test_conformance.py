"""The conformance kit itself: it passes good plugins, catches planted bugs, and its own parts work.

Each planted bug is a tiny plugin defined here and registered with ``catalog_with``; each must
fail its check with a ConformanceError saying which check failed and why. Correct twins of the
planted plugins pass, so a failure is the bug's doing, not the kit failing everything. The kit's
runs over every built-in layer, loss, initialiser, optimizer, augmenter and schedule live in
test_gradients.py and test_plugin_behaviour.py; the registry entries are checked here.
"""

import time
from pathlib import Path

import numpy as np
import pytest

import zoo
import zoo.testing
from zoo.errors import ConfigError, DataError, UnknownNameError
from zoo.layers import Param
from zoo.loading import default_catalog
from zoo.testing import ConformanceError, digits

BUILTINS = default_catalog()

# =============================================================================================
# planted plugins: a correct one per kind, and its broken twins


class Scale:
    """``y = x * s``, one parameter per input value, on samples of any shape: a correct contract-2 layer."""

    zoo_contract = 2

    def build(self, in_shape, dtype, rng):
        s = rng.uniform(0.5, 1.5, in_shape).astype(dtype)
        self.s = Param("s", s, np.zeros_like(s))
        return in_shape

    def params(self):
        return [self.s]

    def forward(self, x, training):
        self.x = x
        return x * self.s.value

    def backward(self, dy, need_dx=True):
        self.s.grad[...] = (dy * self.x).sum(axis=0)
        return dy * self.s.value if need_dx else None


class WrongParamGradient(Scale):
    def backward(self, dy, need_dx=True):
        self.s.grad[...] = dy.sum(axis=0)  # forgets the factor x
        return dy * self.s.value if need_dx else None


class WrongInputGradient(Scale):
    def backward(self, dy, need_dx=True):
        super().backward(dy, need_dx)
        return dy  # forgets the factor s


class AccumulatingGradient(Scale):
    def backward(self, dy, need_dx=True):
        self.s.grad += (dy * self.x).sum(axis=0)  # adds to the last step's gradient
        return dy * self.s.value if need_dx else None


class Upcasting(Scale):
    def forward(self, x, training):
        self.x = x
        return x * self.s.value.astype(np.float64)  # float32 in, float64 out


class UnseededNoise(Scale):
    """Multiplicative noise in training, from a generator of its own that no seed reaches."""

    def forward(self, x, training):
        self.x = x
        self.noise = (1 + 0.1 * np.random.default_rng().standard_normal(x.shape)).astype(x.dtype) if training else 1
        return x * self.s.value * self.noise

    def backward(self, dy, need_dx=True):
        return super().backward(dy * self.noise, need_dx)


class GlobalStateNoise(UnseededNoise):
    """Reseeds numpy's global state every call: deterministic, but it clobbers everyone's global random state."""

    def forward(self, x, training):
        np.random.seed(0)
        self.x = x
        self.noise = (1 + 0.1 * np.random.standard_normal(x.shape)).astype(x.dtype) if training else 1
        return x * self.s.value * self.noise


class NoisyEvaluation(Scale):
    """Adds noise from its build generator in evaluation mode too."""

    def build(self, in_shape, dtype, rng):
        self.rng = rng
        return super().build(in_shape, dtype, rng)

    def forward(self, x, training):
        self.x = x
        return x * self.s.value + self.rng.standard_normal(x.shape).astype(x.dtype)


class HiddenState(Scale):
    """Keeps a random offset that neither params() nor state() lists, so model files lose it."""

    def build(self, in_shape, dtype, rng):
        out_shape = super().build(in_shape, dtype, rng)
        self.offset = rng.normal(size=in_shape).astype(dtype)
        return out_shape

    def forward(self, x, training):
        self.x = x
        return x * self.s.value + self.offset


class ReturnsWidth(Scale):
    """Declares contract 2 but returns a width from build, as contract 1 did."""

    def build(self, in_shape, dtype, rng):
        super().build(in_shape, dtype, rng)
        return int(np.prod(in_shape))


class FromTheFuture(Scale):
    zoo_contract = 3


class BuildBug(Scale):
    def build(self, in_shape, dtype, rng):
        return {"units": 3}["unit"]  # a typo: KeyError


class FlatScale:
    """The contract-1 twin of Scale (zoo 0.1: flat batches, ``build(in_features) -> int``): a correct layer."""

    def build(self, in_features, dtype, rng):
        s = rng.uniform(0.5, 1.5, in_features).astype(dtype)
        self.s = Param("s", s, np.zeros_like(s))
        return in_features

    def params(self):
        return [self.s]

    def forward(self, x, training):
        assert x.ndim == 2, "a contract-1 layer sees flat batches"
        self.x = x
        return x * self.s.value

    def backward(self, dy, need_dx=True):
        self.s.grad[...] = (dy * self.x).sum(axis=0)
        return dy * self.s.value if need_dx else None


class FlatReturnsShape(FlatScale):
    """No zoo_contract, so contract 1, yet it returns a shape."""

    def build(self, in_features, dtype, rng):
        return (super().build(in_features, dtype, rng),)


class FlatWithState(FlatScale):
    """A contract-1 layer with state(): FlatLayer never saves it."""

    def state(self):
        return {"calls": np.zeros(1)}

    def load_state(self, state):
        pass


class ChannelScale:
    """``y[:, c] = x[:, c] * s[c]`` on images ``(C, H, W)``: a correct per-channel layer."""

    zoo_contract = 2

    def build(self, in_shape, dtype, rng):
        if len(in_shape) != 3:
            raise ValueError(f"channel_scale needs samples (C, H, W), got {in_shape}")
        s = rng.uniform(0.5, 1.5, in_shape[0]).astype(dtype)
        self.s = Param("s", s, np.zeros_like(s))
        return in_shape

    def params(self):
        return [self.s]

    def forward(self, x, training):
        self.x = x
        return x * self.s.value[:, None, None]

    def backward(self, dy, need_dx=True):
        self.s.grad[...] = (dy * self.x).sum(axis=(0, 2, 3))
        return self.dx(dy) if need_dx else None

    def dx(self, dy):
        return dy * self.s.value[:, None, None]


class SwapsHeightAndWidth(ChannelScale):
    """Gives dx with H and W swapped: right shape on square images, wrong values; only a 3-D input shows it."""

    def dx(self, dy):
        return super().dx(dy).transpose(0, 1, 3, 2)


class RunningCentre:
    """``y = (x - centre) * s``, like batch norm without the scaling: a correct stateful layer.

    In training the centre is the batch mean, and the running mean follows it; at evaluation
    the centre is the running mean, which ``state()`` holds.
    """

    zoo_contract = 2
    momentum = 0.5

    def build(self, in_shape, dtype, rng):
        s = rng.uniform(0.5, 1.5, in_shape).astype(dtype)
        self.s = Param("s", s, np.zeros_like(s))
        self.running_mean = np.zeros(in_shape, dtype)
        return in_shape

    def params(self):
        return [self.s]

    def state(self):
        return {"running_mean": self.running_mean}

    def load_state(self, state):
        self.running_mean[...] = state["running_mean"]

    def forward(self, x, training):
        if training:
            mean = x.mean(axis=0)
            self.update(mean)
            self.centred = x - mean
        else:
            self.centred = x - self.running_mean
        self.training = training
        return self.centred * self.s.value

    def update(self, mean):
        self.running_mean *= self.momentum
        self.running_mean += (1 - self.momentum) * mean

    def backward(self, dy, need_dx=True):
        self.s.grad[...] = (dy * self.centred).sum(axis=0)
        if not need_dx:
            return None
        dc = dy * self.s.value
        return dc - dc.mean(axis=0) if self.training else dc


class UnsavedCentre(RunningCentre):
    """Keeps its running mean but does not say so: model files and checkpoints would lose it."""

    def state(self):
        return {}

    def load_state(self, state):
        pass


class IgnoresLoadState(RunningCentre):
    def load_state(self, state):
        pass  # forgets to copy


class OnlyState(RunningCentre):
    load_state = None


class StateNamedLikeParam(RunningCentre):
    def state(self):
        return {"s": self.running_mean}

    def load_state(self, state):
        self.running_mean[...] = state["s"]


class Float64State(RunningCentre):
    def build(self, in_shape, dtype, rng):
        out_shape = super().build(in_shape, dtype, rng)
        self.running_mean = self.running_mean.astype(np.float64)  # whatever the dtype of the build
        return out_shape


class UpcastingUpdate(RunningCentre):
    def update(self, mean):
        self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mean.astype(np.float64)


class UpdatesAtEvaluation(RunningCentre):
    def forward(self, x, training):
        if not training:
            self.update(x.mean(axis=0))  # batch norm must not learn from evaluation batches
        return super().forward(x, training)


class NoisyCentre(RunningCentre):
    """A stateful layer with noise at evaluation: restoring its state must not excuse the noise."""

    def build(self, in_shape, dtype, rng):
        self.rng = rng
        return super().build(in_shape, dtype, rng)

    def forward(self, x, training):
        y = super().forward(x, training)
        return y if training else y + self.rng.standard_normal(y.shape).astype(y.dtype)


class UnseededEvaluationNoise(RunningCentre):
    def forward(self, x, training):
        y = super().forward(x, training)
        return y if training else y * (1 + 0.01 * np.random.default_rng().standard_normal(y.shape)).astype(y.dtype)


class BatchStatisticsAtEvaluation(RunningCentre):
    """Centres on the batch mean in evaluation mode too, with the matching gradient: only batch order shows it."""

    def forward(self, x, training):
        y = super().forward(x, True)
        if not training:
            self.running_mean[...] = self.saved  # leaves its state alone at evaluation, as it should
        return y

    def update(self, mean):
        self.saved = self.running_mean.copy()
        super().update(mean)


class StateAttribute(Scale):
    """Keeps a string in ``self.state``, a name the layer contract reserves."""

    def build(self, in_shape, dtype, rng):
        self.state = "idle"
        return super().build(in_shape, dtype, rng)


class FlatStateAttribute(FlatScale):
    """A zoo 0.1 layer may keep anything in ``self.state``: contract 1 reserves no such name."""

    def build(self, in_features, dtype, rng):
        self.state = "idle"
        return super().build(in_features, dtype, rng)


class PlantedLayers:
    @zoo.hookimpl
    def register_layers(self, register):
        register("scale", Scale)
        register("wrong_param_gradient", WrongParamGradient)
        register("wrong_input_gradient", WrongInputGradient)
        register("accumulating_gradient", AccumulatingGradient)
        register("upcasting", Upcasting)
        register("unseeded_noise", UnseededNoise)
        register("global_state_noise", GlobalStateNoise)
        register("noisy_evaluation", NoisyEvaluation)
        register("hidden_state", HiddenState)
        register("returns_width", ReturnsWidth)
        register("from_the_future", FromTheFuture)
        register("build_bug", BuildBug)
        register("flat_scale", FlatScale)
        register("flat_returns_shape", FlatReturnsShape)
        register("flat_with_state", FlatWithState)
        register("channel_scale", ChannelScale)
        register("swaps_height_and_width", SwapsHeightAndWidth)
        register("running_centre", RunningCentre)
        register("unsaved_centre", UnsavedCentre)
        register("ignores_load_state", IgnoresLoadState)
        register("only_state", OnlyState)
        register("state_named_like_param", StateNamedLikeParam)
        register("float64_state", Float64State)
        register("upcasting_update", UpcastingUpdate)
        register("updates_at_evaluation", UpdatesAtEvaluation)
        register("noisy_centre", NoisyCentre)
        register("unseeded_evaluation_noise", UnseededEvaluationNoise)
        register("batch_statistics_at_evaluation", BatchStatisticsAtEvaluation)
        register("state_attribute", StateAttribute)
        register("flat_state_attribute", FlatStateAttribute)


class MeanSquaredError:
    """``mean over rows of sum((output - onehot)^2)``: a correct loss."""

    def forward(self, output, labels):
        self.diff = output.copy()
        self.diff[np.arange(len(labels)), labels] -= 1
        return float(np.sum(self.diff**2) / len(labels))

    def backward(self):
        return 2 * self.diff / len(self.diff)


class ForgetsBatchMean(MeanSquaredError):
    def backward(self):
        return 2 * self.diff  # forgets the 1/N of the mean


class PlantedLosses:
    @zoo.hookimpl
    def register_losses(self, register):
        register("mse", MeanSquaredError)
        register("forgets_batch_mean", ForgetsBatchMean)


class TinyNormal:
    """N(0, 0.05²) from the generator it is given: a correct initialiser."""

    def __call__(self, shape, fan_in, fan_out, rng, dtype):
        return (0.05 * rng.standard_normal(shape)).astype(dtype)


class GlobalStateNormal(TinyNormal):
    def __call__(self, shape, fan_in, fan_out, rng, dtype):
        return (0.05 * np.random.standard_normal(shape)).astype(dtype)


class UnseededNormal(TinyNormal):
    def __call__(self, shape, fan_in, fan_out, rng, dtype):
        return (0.05 * np.random.default_rng().standard_normal(shape)).astype(dtype)


class FixedSeedNormal(TinyNormal):
    def __call__(self, shape, fan_in, fan_out, rng, dtype):
        return (0.05 * np.random.default_rng(0).standard_normal(shape)).astype(dtype)


class PlantedInitialisers:
    @zoo.hookimpl
    def register_initialisers(self, register):
        register("tiny_normal", TinyNormal)
        register("global_state_normal", GlobalStateNormal)
        register("unseeded_normal", UnseededNormal)
        register("fixed_seed_normal", FixedSeedNormal)


class PlainSGD:
    """``w -= lr * grad``, with ``Param.lr`` overriding ``lr``: a correct optimizer."""

    def __init__(self, lr=0.1):
        self.lr = lr

    def setup(self, params):
        pass

    def start_epoch(self, epoch):
        pass

    def step(self, params):
        for p in params:
            p.value -= (self.lr if p.lr is None else p.lr) * p.grad


class IgnoresParamLr(PlainSGD):
    def step(self, params):
        for p in params:
            p.value -= self.lr * p.grad


class ReplacesArrays(PlainSGD):
    def step(self, params):
        for p in params:
            p.value = p.value - (self.lr if p.lr is None else p.lr) * p.grad


class Momentum(PlainSGD):
    """SGD with momentum 0.9, whose state() holds the velocities."""

    def setup(self, params):
        self.velocity = [np.zeros_like(p.value) for p in params]

    def step(self, params):
        for p, v in zip(params, self.velocity):
            v *= 0.9
            v += p.grad
            p.value -= (self.lr if p.lr is None else p.lr) * v

    def state(self):
        return {f"v{i}": v for i, v in enumerate(self.velocity)}

    def load_state(self, state):
        for i, v in enumerate(self.velocity):
            v[...] = state[f"v{i}"]


class Idle(PlainSGD):
    def step(self, params):
        pass


class ForgetsVelocity(Momentum):
    def state(self):
        return {}

    def load_state(self, state):
        pass


class PlantedOptimizers:
    @zoo.hookimpl
    def register_optimizers(self, register):
        register("plain_sgd", PlainSGD)
        register("ignores_param_lr", IgnoresParamLr)
        register("replaces_arrays", ReplacesArrays)
        register("momentum", Momentum)
        register("forgets_velocity", ForgetsVelocity)
        register("idle", Idle)


class Dims:
    """Scales each image by its own random factor in [0.6, 1]: a correct augmenter."""

    def __call__(self, images, rng):
        return images * rng.uniform(0.6, 1.0, size=(len(images), 1, 1)).astype(images.dtype)


class UpsideDown:
    def __call__(self, images, rng):
        return images[:, ::-1, ::-1].copy()


class Mirror:
    def __call__(self, images, rng):
        return images[:, :, ::-1].copy()


class ShufflesBatch:
    def __call__(self, images, rng):
        return images[rng.permutation(len(images))]


class Darkens:
    """Scales the batch by 0.9 in place: label-preserving, but it overwrites its input."""

    def __call__(self, images, rng):
        images *= images.dtype.type(0.9)
        return images


class Overexposes:
    def __call__(self, images, rng):
        return images * images.dtype.type(1.5)


class PlantedAugmenters:
    @zoo.hookimpl
    def register_augmenters(self, register):
        register("dims", Dims)
        register("upside_down", UpsideDown)
        register("mirror", Mirror)
        register("shuffles_batch", ShufflesBatch)
        register("darkens", Darkens)
        register("overexposes", Overexposes)


class Chunks:
    """Shuffled batches of ``size``, the short last one kept: a correct schedule."""

    def __init__(self, size=7):
        self.size = size

    def steps_per_epoch(self, n):
        return -(-n // self.size)

    def iterate(self, n, rng):
        while True:
            order = rng.permutation(n)
            for start in range(0, n, self.size):
                yield order[start : start + self.size]


class OffByOne(Chunks):
    def iterate(self, n, rng):
        for batch in super().iterate(n, rng):
            yield batch + 1


class ClaimsTooManySteps(Chunks):
    def steps_per_epoch(self, n):
        return n  # one step per sample, but batches of 7


class UnseededChunks(Chunks):
    def iterate(self, n, rng):
        return super().iterate(n, np.random.default_rng())


class NeverYields(Chunks):
    def iterate(self, n, rng):
        while True:
            time.sleep(0.01)
        yield  # a generator that never yields its first batch


class PlantedBatches:
    @zoo.hookimpl
    def register_batches(self, register):
        register("chunks", Chunks)
        register("off_by_one", OffByOne)
        register("claims_too_many_steps", ClaimsTooManySteps)
        register("unseeded_chunks", UnseededChunks)
        register("never_yields", NeverYields)


def _entry(**changes):
    table = {
        "layers": [{"type": "dense", "units": 10}],
        "loss": {"type": "softmax_cross_entropy"},
        "optimizer": {"type": "plain_sgd"},
        "batches": {"type": "chunks", "size": 32},
        "train": {"epochs": 1},
    }
    return lambda: (table | changes, "tests/test_conformance.py")


class PlantedEntries:
    @zoo.hookimpl
    def register_models(self, register):
        register("good-entry", _entry())
        register("misspelt-entry", _entry(loss={"type": "softmax_crossentropy"}))
        register("frozen-entry", _entry(optimizer={"type": "idle"}))


PLANTED = [
    PlantedLayers(),
    PlantedLosses(),
    PlantedInitialisers(),
    PlantedOptimizers(),
    PlantedAugmenters(),
    PlantedBatches(),
    PlantedEntries(),
]
CATALOG = zoo.testing.catalog_with(*PLANTED)


# =============================================================================================
# correct plugins pass; planted bugs fail their check


@pytest.mark.parametrize(
    "kind, name, options, kwargs",
    [
        ("layer", "scale", None, {}),
        ("loss", "mse", None, {}),
        ("initialiser", "tiny_normal", None, {"std": 0.05, "mean": 0.0}),
        ("optimizer", "plain_sgd", None, {}),
        ("optimizer", "momentum", {"lr": 0.05}, {}),
        ("augmenter", "dims", None, {"digits": "synthetic"}),
        ("augmenter", "darkens", None, {"in_place": True}),
        ("batches", "chunks", {"size": 5}, {}),
        ("model", "good-entry", None, {}),
    ],
)
def test_correct_plugins_pass(kind, name, options, kwargs):
    zoo.testing.check_plugin(kind, name, options, catalog=CATALOG, **kwargs)


IMAGES = {"in_shape": (2, 6, 6)}


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("scale", {"in_shape": (2, 3, 4)}),
        ("scale", {"in_shape": [3]}),
        ("scale", {"in_features": 7}),  # zoo 0.1's keyword
        ("flat_scale", {}),
        ("flat_scale", {"in_shape": (2, 3, 3)}),  # a contract-1 layer sees the images flattened, as in a network
        ("flat_state_attribute", {}),
        ("channel_scale", IMAGES),
        ("channel_scale", {"in_shape": (3, 4, 5)}),
        ("running_centre", {}),
        ("running_centre", IMAGES),
    ],
)
def test_correct_layers_pass_on_every_shape(name, kwargs):
    zoo.testing.check_layer(name, catalog=CATALOG, **kwargs)


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("wrong_param_gradient", {}, r"gradient check \(training mode\): s\.grad: it differs from central differences"),
        ("wrong_input_gradient", {}, r"gradient check \(training mode\): dx \(what backward returns\): it differs"),
        ("wrong_input_gradient", IMAGES, r"in_shape \(2, 6, 6\)\) fails the gradient check \(training mode\): dx"),
        (
            "swaps_height_and_width",
            IMAGES,
            r"gradient check \(training mode\): dx \(what backward returns\): it differs",
        ),
        ("accumulating_gradient", {}, r"gradient check \(training mode\): s\.grad: it differs"),
        ("upcasting", {}, r"float32 check: forward's output in training mode is float64\[4, 5\], expected float32"),
        ("upcasting", IMAGES, r"float32 check: forward's output in training mode is float64\[4, 2, 6, 6\], expected"),
        ("unseeded_noise", {}, r"determinism check: two layers built from the same seed give different training"),
        ("global_state_noise", {}, r"random state check: it drew from numpy's global random state"),
        ("noisy_evaluation", {}, r"determinism check: evaluation-mode forward gives different outputs"),
        ("hidden_state", {}, r"model file round trip: .*evaluation output differs .*params\(\) and state\(\) miss"),
        ("hidden_state", IMAGES, r"model file round trip: .*evaluation output differs"),
    ],
)
def test_planted_layer_bugs_fail(name, kwargs, message):
    with pytest.raises(ConformanceError, match=message):
        zoo.testing.check_layer(name, catalog=CATALOG, **kwargs)


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        (
            "returns_width",
            {},
            r"build check: build\(\(5,\)\) returned 5, not an output shape: a contract-2 layer returns a tuple",
        ),
        (
            "flat_returns_shape",
            {},
            r"build check: build\(5\) returned \(5,\), not a positive number of features: a contract-1 layer .*"
            r"declares zoo_contract = 2",
        ),
        ("from_the_future", {}, r"build check: it declares zoo_contract = 3; zoo runs layer contracts \(1, 2\)"),
        (
            "build_bug",
            IMAGES,
            r"^layer 'build_bug' \(plugin .*, in_shape \(2, 6, 6\)\) fails the build check: "
            r"build\(\(2, 6, 6\), float64, rng\) raised KeyError: 'unit'$",
        ),
        (
            "channel_scale",
            {},
            r"build check: build\(\(5,\), float64, rng\) raised ValueError: channel_scale needs samples \(C, H, W\), "
            r"got \(5,\); a layer on images is checked with in_shape=\(C, H, W\), e.g. in_shape=\(2, 6, 6\)",
        ),
    ],
)
def test_planted_build_bugs_fail_naming_the_in_shape(name, kwargs, message):
    with pytest.raises(ConformanceError, match=message) as caught:
        zoo.testing.check_layer(name, catalog=CATALOG, **kwargs)
    assert caught.value.check == "the build check"


def test_an_exception_in_build_keeps_its_traceback_as_the_cause():
    with pytest.raises(ConformanceError) as caught:
        zoo.testing.check_layer("build_bug", catalog=CATALOG)
    assert isinstance(caught.value.__cause__, KeyError)


@pytest.mark.parametrize(
    "name, message",
    [
        ("unsaved_centre", r"determinism check: evaluation-mode forward gives different outputs .*running means"),
        ("ignores_load_state", r"state check: after load_state\(arrays\), state\(\) gives 'running_mean' other"),
        ("only_state", r"state check: it has one of state\(\) and load_state\(\) but not the other"),
        ("state_named_like_param", r"state check: state\(\) and params\(\) both use the names \['s'\]"),
        ("float64_state", r"state check: state\(\)\['running_mean'\]: built for float32, it is float64"),
        ("upcasting_update", r"float32 check: after a training step its state 'running_mean' is float64"),
        ("updates_at_evaluation", r"determinism check: an evaluation-mode forward must change no state"),
        ("noisy_centre", r"determinism check: evaluation-mode forward gives different outputs"),
        ("unseeded_evaluation_noise", r"determinism check: evaluation-mode forward gives different outputs"),
        ("batch_statistics_at_evaluation", r"determinism check: in evaluation mode, a sample's output depends on"),
        ("state_attribute", r"state check: its attribute state is str, not a method: zoo calls state\(\) on layers"),
        ("flat_with_state", r"state check: .*contract-1 layer \(no zoo_contract\), whose state zoo never saves"),
    ],
)
@pytest.mark.parametrize("kwargs", [{}, IMAGES], ids=["flat", "images"])
def test_planted_state_bugs_fail(name, message, kwargs):
    """Restoring a layer's state between forwards lets running statistics pass, but nothing else."""
    with pytest.raises(ConformanceError, match=message):
        zoo.testing.check_layer(name, catalog=CATALOG, **kwargs)


def test_the_model_file_round_trip_restores_layer_state(monkeypatch):
    """The state a training forward moved comes back from the model file (network.state() carries it)."""
    saved = []
    real_save = zoo.testing.layers.save

    def spy(path, network, entry, **kwargs):
        saved.append({key: value.copy() for key, value in network.state().items()})
        return real_save(path, network, entry, **kwargs)

    monkeypatch.setattr(zoo.testing.layers, "save", spy)
    zoo.testing.check_layer("running_centre", catalog=CATALOG, **IMAGES)
    assert [sorted(state) for state in saved] == [["layers.0.running_mean", "layers.0.s"]] * 2
    assert all(np.any(state["layers.0.running_mean"] != 0) for state in saved), "the state was never moved"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"in_shape": (2, 0, 6)}, r"in_shape must be a tuple of positive integers such as \(5,\).*got \(2, 0, 6\)"),
        ({"in_shape": 5}, r"in_shape must be a tuple of positive integers .*got 5"),
        ({"in_features": 0}, r"in_features must be a positive integer, got 0"),
        ({"in_features": 5, "in_shape": (2, 6, 6)}, r"give in_shape or in_features \(its old name"),
    ],
)
def test_a_bad_in_shape_is_a_usage_error(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        zoo.testing.check_layer("scale", catalog=CATALOG, **kwargs)


def test_planted_loss_bug_fails():
    with pytest.raises(
        ConformanceError, match=r"loss 'forgets_batch_mean'.*gradient check \(6 rows\): .* differs from central"
    ):
        zoo.testing.check_loss("forgets_batch_mean", catalog=CATALOG)


@pytest.mark.parametrize(
    "name, message",
    [
        ("global_state_normal", r"seeded determinism check: two \[7\] draws from the same seed differ"),
        ("unseeded_normal", r"seeded determinism check: two \[7\] draws from the same seed differ"),
        ("fixed_seed_normal", r"never draws from the Generator it is given, yet its values look random"),
    ],
)
def test_planted_nondeterministic_initialisers_fail(name, message):
    with pytest.raises(ConformanceError, match=message):
        zoo.testing.check_initialiser(name, catalog=CATALOG)


def test_initialiser_scale_claims_are_checked():
    """tiny_normal draws N(0, 0.05²): a claimed std of 0.055 or mean of 0.001 is many standard errors off."""
    with pytest.raises(ConformanceError, match=r"std check: .*sample std is 0\.0[45]\d*, claimed 0\.055"):
        zoo.testing.check_initialiser("tiny_normal", catalog=CATALOG, std=0.055)
    with pytest.raises(ConformanceError, match=r"mean check: .*claimed 0.001: off by \d+\.\d standard errors"):
        zoo.testing.check_initialiser("tiny_normal", catalog=CATALOG, mean=0.001)
    he_normal = lambda fan_in, fan_out: (2 / fan_in) ** 0.5  # noqa: E731
    with pytest.raises(ConformanceError, match=r"initialiser 'scaled_normal'.*std check"):
        zoo.testing.check_initialiser("scaled_normal", catalog=CATALOG, std=he_normal)


@pytest.mark.parametrize("source", ["mnist", "synthetic"])
@pytest.mark.parametrize("name", ["upside_down", "mirror", "shuffles_batch"])
def test_planted_label_changing_augmenters_fail(name, source, data_env):
    if source == "mnist" and not (data_env / "mnist").is_dir():
        pytest.skip("real MNIST not found; set ZOO_DATA")
    with pytest.raises(ConformanceError, match=r"label preservation check: a nearest-neighbour classifier recognises"):
        zoo.testing.check_augmenter(name, catalog=CATALOG, digits=source)


def test_a_builtin_rotation_beyond_the_label_preserving_range_fails():
    """rotate accepts max_degrees up to 180, but digits turned by up to ±180° are not the same digits."""
    with pytest.raises(ConformanceError, match=r"'rotate' .*options \{'max_degrees': 180\}.*label preservation"):
        zoo.testing.check_augmenter("rotate", {"max_degrees": 180}, catalog=BUILTINS, digits="synthetic")


def test_planted_augmenter_bugs_fail():
    with pytest.raises(ConformanceError, match=r"input check: it overwrote its input .*in_place=True"):
        zoo.testing.check_augmenter("darkens", catalog=CATALOG)
    with pytest.raises(ConformanceError, match=r"range check \(float32\): its output has values in \[0.0, 1.5\]"):
        zoo.testing.check_augmenter("overexposes", catalog=CATALOG)


@pytest.mark.parametrize(
    "name, message",
    [
        ("ignores_param_lr", r"per-parameter learning rate check: a parameter with lr = 0 moved"),
        ("replaces_arrays", r"convex quadratic check \(float64\): step replaced W\.value with a new array"),
        ("forgets_velocity", r"state round trip: after load_state\(state\(\)\) three more steps leave W different"),
    ],
)
def test_planted_optimizer_bugs_fail(name, message):
    with pytest.raises(ConformanceError, match=message):
        zoo.testing.check_optimizer(name, {"lr": 0.05}, catalog=CATALOG)


def test_an_optimizer_too_slow_for_the_quadratic_fails_with_advice():
    with pytest.raises(ConformanceError, match=r"after 500 steps f - f\* went from .* larger lr"):
        zoo.testing.check_optimizer("plain_sgd", {"lr": 1e-4}, catalog=CATALOG)


@pytest.mark.parametrize(
    "name, message",
    [
        ("off_by_one", r"batch check \(1000 samples\): batch indices reach \d+\.\.1000, outside 0\.\.999"),
        (
            "claims_too_many_steps",
            r"epoch 1 \(1000 steps, as steps_per_epoch\(1000\) says\) holds \d+ samples; one pass",
        ),
        ("unseeded_chunks", r"two iterations from the same seed give different batches"),
    ],
)
def test_planted_batch_bugs_fail(name, message):
    with pytest.raises(ConformanceError, match=message):
        zoo.testing.check_batches(name, catalog=CATALOG)


def test_a_schedule_that_never_yields_fails_in_time(monkeypatch):
    monkeypatch.setattr(zoo.testing.batches, "TIME_LIMIT", 0.3)
    with pytest.raises(ConformanceError, match=r"iterate\(\) yielded no batch .*within 0.3 seconds"):
        zoo.testing.check_batches("never_yields", catalog=CATALOG)


def test_planted_entry_bugs_fail():
    with pytest.raises(ConformanceError, match=r"model 'misspelt-entry' .* validation: .*did you mean"):
        zoo.testing.check_entry("misspelt-entry", catalog=CATALOG)
    with pytest.raises(ConformanceError, match=r"training step: one step changed none of its 2 parameter arrays"):
        zoo.testing.check_entry("frozen-entry", catalog=CATALOG)


# =============================================================================================
# every registry entry


@pytest.mark.parametrize("name", BUILTINS.names("model"))
def test_registry_entry_conforms(name):
    zoo.testing.check_entry(name, catalog=BUILTINS)


# =============================================================================================
# the kit's interface


def test_the_error_names_plugin_package_options_and_check():
    with pytest.raises(ConformanceError) as caught:
        zoo.testing.check_layer("upcasting", {}, catalog=CATALOG)
    error = caught.value
    assert isinstance(error, AssertionError)
    assert str(error).startswith(
        f"layer 'upcasting' (plugin '{__name__}.PlantedLayers', not installed, in_shape (5,)) fails the float32 check: "
    )
    assert (error.kind, error.name, error.plugin, error.package) == (
        "layer",
        "upcasting",
        f"{__name__}.PlantedLayers",
        None,
    )
    assert error.check == "the float32 check" and "\n" not in str(error)
    with pytest.raises(ConformanceError, match=r"^optimizer 'ignores_param_lr' \(plugin .*, options \{'lr': 0.05\}\)"):
        zoo.testing.check_optimizer("ignores_param_lr", {"lr": 0.05}, catalog=CATALOG)


def test_catalog_with_adds_plugins_to_the_installed_ones():
    import zoo_builtins.layers

    catalog = zoo.testing.catalog_with(PlantedLayers(), zoo_builtins.layers)  # the installed one is not doubled
    assert not catalog.failures
    assert catalog.get("layer", "dense").package == "numpy-zoo"
    record = catalog.get("layer", "scale")
    assert (record.plugin, record.package) == (f"{__name__}.PlantedLayers", None)


def test_options_are_validated_as_in_an_entry():
    with pytest.raises(ConfigError, match=r"zoo.testing: layer 'dense': options.unit: unknown key 'unit'.*'units'"):
        zoo.testing.check_layer("dense", {"unit": 3}, catalog=BUILTINS)
    with pytest.raises(ConfigError, match=r"layer 'dense' needs option 'units'"):
        zoo.testing.check_layer("dense", catalog=BUILTINS)
    with pytest.raises(UnknownNameError, match=r"options.weight_init.type: unknown initialiser 'he_norm'.*'he_normal'"):
        zoo.testing.check_layer("dense", {"units": 3, "weight_init": "he_norm"}, catalog=BUILTINS)
    with pytest.raises(UnknownNameError, match=r"unknown layer 'dens'; did you mean 'dense'"):
        zoo.testing.check_layer("dens", catalog=BUILTINS)
    with pytest.raises(ConfigError, match=r"'rate' must be a finite number >= 0 and < 1, got 1.5"):
        zoo.testing.check_layer("dropout", {"rate": 1.5}, catalog=BUILTINS)


def test_check_plugin_dispatches_on_kind():
    with pytest.raises(ConformanceError, match=r"^initialiser 'fixed_seed_normal'"):
        zoo.testing.check_plugin("initialiser", "fixed_seed_normal", catalog=CATALOG)
    with pytest.raises(ConfigError, match=r"no check for kind 'metric' \(checked: layer, .*schedule, .*model"):
        zoo.testing.check_plugin("metric", "cosine", catalog=CATALOG)
    with pytest.raises(ConfigError, match=r"a registry entry takes no options"):
        zoo.testing.check_plugin("model", "good-entry", {"x": 1}, catalog=CATALOG)


class GoodPlugins:
    """A plugin package's worth of correct names, one of which needs its check's keyword arguments."""

    @zoo.hookimpl
    def register_layers(self, register):
        register("scale", Scale)
        register("channel_scale", ChannelScale)

    @zoo.hookimpl
    def register_initialisers(self, register):
        register("tiny_normal", TinyNormal)

    @zoo.hookimpl
    def register_batches(self, register):
        register("chunks", Chunks)


def test_check_package_checks_every_name_of_a_package():
    catalog = zoo.testing.catalog_with(GoodPlugins())
    plugin = f"{__name__}.GoodPlugins"
    options = {
        "tiny_normal": {"options": {}, "std": 0.05},
        "batches:chunks": {"size": 3},
        "channel_scale": {"options": {}, "in_shape": (2, 6, 6)},
    }
    checked = zoo.testing.check_package(plugin, catalog=catalog, options=options)
    assert checked == [
        ("layer", "channel_scale"),
        ("layer", "scale"),
        ("initialiser", "tiny_normal"),
        ("batches", "chunks"),
    ]
    with pytest.warns(zoo.testing.NotChecked, match="did not check layer 'channel_scale', layer 'scale', batches"):
        checked = zoo.testing.check_package(plugin, catalog=catalog, skip=["layer:scale", "chunks", "channel_scale"])
    assert checked == [("initialiser", "tiny_normal")]
    with pytest.raises(ConformanceError, match=r"layer 'channel_scale' .*in_shape \(5,\)\) fails the build check"):
        zoo.testing.check_package(plugin, catalog=catalog, options={"tiny_normal": {"options": {}, "std": 0.05}})
    with pytest.raises(ConformanceError, match=r"initialiser 'tiny_normal'.*std check"):
        zoo.testing.check_package(
            plugin, catalog=catalog, options=options | {"tiny_normal": {"options": {}, "std": 1.0}}
        )
    with pytest.raises(ConfigError, match=r"'no-such-package' registered no plugin names \(packages: .*numpy-zoo"):
        zoo.testing.check_package("no-such-package", catalog=catalog)


class Broken:
    @zoo.hookimpl
    def register_layers(self, register):
        raise RuntimeError("boom")


def test_check_package_fails_a_plugin_that_failed_to_load():
    catalog = zoo.testing.catalog_with(Broken())
    with pytest.raises(ConformanceError, match=r"Broken': register_layers raised RuntimeError: boom"):
        zoo.testing.check_package(f"{__name__}.Broken", catalog=catalog)


# =============================================================================================
# the digits and the classifier behind the label check


@pytest.fixture(params=["mnist", "synthetic"])
def digit_set(request, data_env):
    if request.param == "mnist" and not (data_env / "mnist").is_dir():
        pytest.skip("real MNIST not found; set ZOO_DATA")
    return digits.digits(request.param)


def test_digits_are_balanced_images_in_range(digit_set):
    images, labels = digit_set.images, digit_set.labels
    assert images.shape == (digits.COUNT, 28, 28) and images.dtype == np.float32
    assert images.min() == 0.0 and images.max() == 1.0
    counts = np.bincount(labels[: digits.EVALUATED], minlength=10)
    assert counts.min() > 0.7 * digits.EVALUATED / 10, counts


def test_the_classifier_recognises_digits_wherever_they_sit(digit_set):
    """High accuracy on the originals, unchanged by shifting every digit (the features centre it)."""
    recognised = digits.recognised(digit_set)
    assert recognised.mean() > (0.9 if digit_set.source.startswith("MNIST") else 0.97)
    moved = np.roll(digit_set.images[: digits.EVALUATED], (3, -2), axis=(1, 2))
    predicted = digits.classifier(digit_set).predict(moved)
    assert np.mean(predicted == digit_set.labels[: digits.EVALUATED]) >= recognised.mean() - 0.01


def test_auto_uses_mnist_when_found_and_synthetic_otherwise(data_env, monkeypatch, tmp_path):
    if (data_env / "mnist").is_dir():
        assert digits.digits("auto").source.startswith("MNIST")
    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    if any(Path(d, "t10k-images-idx3-ubyte.gz").exists() for d in digits.candidate_dirs("mnist")):
        pytest.skip("MNIST is installed system-wide")
    assert digits.digits("auto").source == "synthetic digits"
    with pytest.raises(DataError, match=r"MNIST test files not found in .*set ZOO_DATA"):
        digits.digits("mnist")
