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
from zoo.plugins import default_catalog
from zoo.testing import ConformanceError, digits

BUILTINS = default_catalog()

# =============================================================================================
# planted plugins: a correct one per kind, and its broken twins


class Scale:
    """``y = x * s``, one parameter per feature: a correct layer, the base of the broken ones."""

    def build(self, in_features, dtype, rng):
        s = rng.uniform(0.5, 1.5, in_features).astype(dtype)
        self.s = Param("s", s, np.zeros_like(s))
        return in_features

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

    def build(self, in_features, dtype, rng):
        self.rng = rng
        return super().build(in_features, dtype, rng)

    def forward(self, x, training):
        self.x = x
        return x * self.s.value + self.rng.standard_normal(x.shape).astype(x.dtype)


class HiddenState(Scale):
    """Keeps a random offset that params() does not list, so model files lose it."""

    def build(self, in_features, dtype, rng):
        width = super().build(in_features, dtype, rng)
        self.offset = rng.normal(size=in_features).astype(dtype)
        return width

    def forward(self, x, training):
        self.x = x
        return x * self.s.value + self.offset


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


@pytest.mark.parametrize(
    "name, message",
    [
        ("wrong_param_gradient", r"gradient check \(training mode\): s\.grad: it differs from central differences"),
        ("wrong_input_gradient", r"gradient check \(training mode\): dx \(what backward returns\): it differs"),
        ("accumulating_gradient", r"gradient check \(training mode\): s\.grad: it differs"),
        ("upcasting", r"float32 check: forward's output in training mode is float64\[4, 5\], expected float32"),
        ("unseeded_noise", r"gradient check \(training mode\): two forwards on the same input.*differ"),
        ("global_state_noise", r"random state check: it drew from numpy's global random state"),
        ("noisy_evaluation", r"determinism check: evaluation-mode forward gives different outputs"),
        ("hidden_state", r"model file round trip: .*evaluation output differs .*forward uses state that params"),
    ],
)
def test_planted_layer_bugs_fail(name, message):
    with pytest.raises(ConformanceError, match=message):
        zoo.testing.check_layer(name, catalog=CATALOG)


def test_planted_loss_bug_fails():
    with pytest.raises(ConformanceError, match=r"loss 'forgets_batch_mean'.*gradient check: .* differs from central"):
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
        f"layer 'upcasting' (plugin '{__name__}.PlantedLayers', not installed) fails the float32 check: "
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
    with pytest.raises(ConfigError, match=r"no check for kind 'dataset'"):
        zoo.testing.check_plugin("dataset", "mnist", catalog=CATALOG)
    with pytest.raises(ConfigError, match=r"a registry entry takes no options"):
        zoo.testing.check_plugin("model", "good-entry", {"x": 1}, catalog=CATALOG)


class GoodPlugins:
    """A plugin package's worth of correct names, one of which needs its check's keyword arguments."""

    @zoo.hookimpl
    def register_layers(self, register):
        register("scale", Scale)

    @zoo.hookimpl
    def register_initialisers(self, register):
        register("tiny_normal", TinyNormal)

    @zoo.hookimpl
    def register_batches(self, register):
        register("chunks", Chunks)


def test_check_package_checks_every_name_of_a_package():
    catalog = zoo.testing.catalog_with(GoodPlugins())
    plugin = f"{__name__}.GoodPlugins"
    options = {"tiny_normal": {"options": {}, "std": 0.05}, "batches:chunks": {"size": 3}}
    checked = zoo.testing.check_package(plugin, catalog=catalog, options=options)
    assert checked == [("layer", "scale"), ("initialiser", "tiny_normal"), ("batches", "chunks")]
    assert zoo.testing.check_package(plugin, catalog=catalog, skip=["layer:scale", "chunks"]) == [
        ("initialiser", "tiny_normal")
    ]
    with pytest.raises(ConformanceError, match=r"initialiser 'tiny_normal'.*std check"):
        zoo.testing.check_package(plugin, catalog=catalog, options={"tiny_normal": {"options": {}, "std": 1.0}})
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
