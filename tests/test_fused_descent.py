"""The fused training step: with plain SGD, each layer applies its own update as it backpropagates."""

import math

import attrs
import numpy as np
import pytest
import zoo_builtins.layers
from conftest import assert_same_arrays
from zoo_builtins.layers import Dense
from zoo_builtins.optimizers import SGD

import zoo
import zoo.blas_pool
import zoo.gemm
import zoo.testing
from zoo.config import ModelEntry
from zoo.errors import PluginError
from zoo.network import Network
from zoo.training import train

ENTRY = {
    "layers": [
        {"type": "dense", "units": 32},
        {"type": "relu"},
        {"type": "dropout", "rate": 0.2},
        {"type": "dense", "units": 10},
    ],
    "loss": {"type": "softmax_cross_entropy"},
    "optimizer": {"type": "sgd", "lr": 0.05},
    "batches": {"type": "shuffled", "size": 16},
    "train": {"steps": 60, "log_every": 30},
}


class UnfusedSGD(SGD):
    """The built-in SGD without ``descent_rates``: every step goes through backward() and step()."""

    descent_rates = None


class PlainDense(Dense):
    """A dense layer without its own fused update, as a third-party layer would be."""

    backward_descent = None


class WrongRates(SGD):
    def descent_rates(self, params):
        return [self.lr]  # one rate, whatever the number of parameters


class RatesGoingBad(SGD):
    """Plain descent whose rates turn to NaN at the third step: checked however long they repeated before."""

    def setup(self, params):
        super().setup(params)
        self._calls = 0

    def descent_rates(self, params):
        self._calls += 1
        return [self.lr if self._calls < 3 else math.nan] * len(params)


class StaleDx(Dense):
    """Updates its weights before computing dx: what the kit's fused-descent check must catch."""

    def backward_descent(self, dy, rates, need_dx=True):
        self.backward(dy, need_dx=False)
        zoo.layers.descend(self.params(), rates)
        return self._dx(dy) if need_dx else None


class Plugins:
    @zoo.hookimpl
    def register_optimizers(self, register):
        register("unfused_sgd", UnfusedSGD)
        register("wrong_rates_sgd", WrongRates)
        register("rates_going_bad_sgd", RatesGoingBad)

    @zoo.hookimpl
    def register_layers(self, register):
        register("plain_dense", PlainDense)
        register("stale_dx_dense", StaleDx)


@pytest.fixture(scope="module")
def plugins():
    return zoo.testing.catalog_with(Plugins())


def trained(catalog, splits, overrides=()):
    entry = ModelEntry.from_table("fused", ENTRY, "test", catalog).with_overrides(list(overrides), catalog)
    return train(entry, splits, catalog, seed=3)


@pytest.fixture
def separate_products(monkeypatch):
    """Dense's batched update as on a NumPy without a bundled OpenBLAS: gradient, then ``descend``."""
    monkeypatch.setattr(zoo_builtins.layers, "add_product", lambda c, alpha, a, b: False)


def test_fused_step_rounds_exactly_as_backward_then_sgd_without_the_gemm(plugins, small_mnist, separate_products):
    fused, fused_result = trained(plugins, small_mnist)
    unfused, unfused_result = trained(plugins, small_mnist, ["optimizer.type=unfused_sgd"])
    assert_same_arrays(fused.state(), unfused.state())
    assert [attrs.evolve(r, seconds=0) for r in fused_result.history] == [
        attrs.evolve(r, seconds=0) for r in unfused_result.history
    ]


@pytest.mark.parametrize(
    "overrides",
    [["layers.0.type=plain_dense", "layers.3.type=plain_dense"], ["schedule.type=cosine", "train.steps=40"]],
    ids=["layers without their own fused update", "a schedule scaling the rates"],
)
def test_fused_steps_round_as_sgd_would(plugins, small_mnist, overrides, separate_products):
    fused, _ = trained(plugins, small_mnist, overrides)
    unfused, _ = trained(plugins, small_mnist, [*overrides, "optimizer.type=unfused_sgd"])
    assert_same_arrays(fused.state(), unfused.state())


@pytest.mark.skipif(not zoo.gemm._gemms(), reason="NumPy has no bundled OpenBLAS to add products in place")
def test_batched_steps_add_the_product_in_one_gemm_close_to_the_separate_steps(plugins, small_mnist):
    """With the gemm, ``W += -rate·xᵀdy`` is rounded once per weight: last bits differ, nothing else."""
    wide = ["layers.0.units=64", "train.steps=400", "train.log_every=400"]  # 784×64 weights: above the gemm's floor
    fused, fused_result = trained(plugins, small_mnist, wide)
    unfused, unfused_result = trained(plugins, small_mnist, [*wide, "optimizer.type=unfused_sgd"])
    for name, value in fused.state().items():
        np.testing.assert_allclose(value, unfused.state()[name], rtol=1e-4, atol=1e-5, err_msg=name)
    assert not np.array_equal(fused.state()["layers.0.W"], unfused.state()["layers.0.W"])  # the gemm really ran
    assert abs(fused_result.test_accuracy - unfused_result.test_accuracy) <= 0.002
    again, _ = trained(plugins, small_mnist, wide)
    assert_same_arrays(fused.state(), again.state())


def test_online_steps_use_one_rank_one_update_close_to_the_separate_steps(plugins, small_mnist):
    """At batch size 1 dense layers update through BLAS ger, which rounds differently in the last bits only."""
    online = ["batches.size=1", "train.steps=400", "train.log_every=400"]
    fused, fused_result = trained(plugins, small_mnist, online)
    unfused, unfused_result = trained(plugins, small_mnist, [*online, "optimizer.type=unfused_sgd"])
    for name, value in fused.state().items():
        np.testing.assert_allclose(value, unfused.state()[name], rtol=1e-4, atol=1e-5, err_msg=name)
    assert not np.array_equal(fused.state()["layers.0.W"], unfused.state()["layers.0.W"])  # ger really ran
    assert abs(fused_result.test_accuracy - unfused_result.test_accuracy) <= 0.002
    again, _ = trained(plugins, small_mnist, online)
    assert_same_arrays(fused.state(), again.state())


OPENBLAS_GEMV = pytest.mark.skipif(
    zoo.blas_pool.scipy_blas_threads() is None,
    reason="the same bits rest on OpenBLAS's gemv summing blocks of 4 or 8 columns; SciPy's BLAS is another",
)


@OPENBLAS_GEMV
def test_one_sample_steps_leave_out_the_rows_that_multiply_zeros_with_the_same_bits(plugins, small_mnist, monkeypatch):
    """784×256 weights, above the span's floor: each image's zero borders skip rows of W, and nothing changes."""
    online = ["batches.size=1", "layers.0.units=256", "train.steps=400", "train.log_every=400"]
    spans = []
    span = Dense._span
    monkeypatch.setattr(Dense, "_span", lambda self, x: spans.append(span(self, x)) or spans[-1])
    spanned, spanned_result = trained(plugins, small_mnist, online)
    assert any(s.stop - s.start < 784 for s in spans), "no image left rows out"
    monkeypatch.setattr(zoo_builtins.layers, "_SPAN_MIN", math.inf)
    whole, whole_result = trained(plugins, small_mnist, online)
    assert_same_arrays(spanned.state(), whole.state())
    assert [attrs.evolve(r, seconds=0) for r in spanned_result.history] == [
        attrs.evolve(r, seconds=0) for r in whole_result.history
    ]


@pytest.mark.parametrize(
    "nonzero, rows",
    [
        ((100, 300), slice(96, 304)),  # rounded out to multiples of 16
        ((0, 1), slice(0, 16)),
        ((783, 784), slice(768, 784)),
        ((), slice(0, 784)),  # nothing but zeros: every row, the plain product
    ],
)
def test_the_span_covers_every_nonzero_value(nonzero, rows):
    layer = Dense(units=4)
    layer.build((784,), np.float32, np.random.default_rng(0))
    x = np.zeros((1, 784), np.float32)
    x[0, slice(*nonzero) if nonzero else slice(0, 0)] = 0.5
    assert layer._span(x) == rows
    x[0, 5] = np.nan  # NaN is not zero: its row is kept, so the output is NaN as the full product's
    assert layer._span(x).start == 0


@OPENBLAS_GEMV
def test_a_spanned_forward_is_the_full_product_bit_for_bit(monkeypatch):
    layer = Dense(units=512)
    layer.build((784,), np.float32, np.random.default_rng(0))
    x = np.zeros((1, 784), np.float32)
    x[0, 150:650] = np.random.default_rng(1).random(500, dtype=np.float32)
    spanned = layer.forward(x, training=True).copy()
    assert layer._rows == slice(144, 656)
    monkeypatch.setattr(zoo_builtins.layers, "_SPAN_MIN", math.inf)
    assert np.array_equal(spanned, layer.forward(x, training=True))


@pytest.mark.parametrize(
    "overrides",
    [["optimizer.momentum=0.9"], ["optimizer.weight_decay=0.001"], ["train.clip_norm=0.5"]],
    ids=["momentum", "weight decay", "clipping"],
)
def test_no_fusion_where_the_update_is_not_plain_descent(plugins, small_mnist, overrides, monkeypatch):
    calls = []
    monkeypatch.setattr(Network, "backward_descent", lambda self, rates: calls.append(rates))
    trained(plugins, small_mnist, [*overrides, "train.steps=3"])
    assert calls == []


def test_rates_an_optimizer_gets_wrong_are_one_plugin_error(plugins, small_mnist):
    with pytest.raises(PluginError, match=r"descent_rates\(\) returned \[0.05\]: it must be None or a list of 4"):
        trained(plugins, small_mnist, ["optimizer.type=wrong_rates_sgd"])


def test_rates_that_change_after_repeating_are_checked_again(plugins, small_mnist):
    with pytest.raises(PluginError, match=r"descent_rates\(\) returned \[nan, nan, nan, nan\]"):
        trained(plugins, small_mnist, ["optimizer.type=rates_going_bad_sgd"])


def test_the_kit_checks_a_fused_update_against_backward(plugins):
    zoo.testing.check_layer("dense", {"units": 3}, catalog=plugins)
    with pytest.raises(zoo.testing.ConformanceError, match="different dx from backward's"):
        zoo.testing.check_layer("stale_dx_dense", {"units": 3}, catalog=plugins)
