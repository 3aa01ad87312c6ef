"""Learning-rate schedules: each curve matches its formula, training applies it to every rate, and the
optimizers scale by it; reduce-on-plateau follows Keras's steps."""

import math

import numpy as np
import pytest

import zoo.testing
from zoo.layers import Param
from zoo.loading import default_catalog

CATALOG = default_catalog()
PER_EPOCH, TOTAL = 7, 70


def curve(name, **options):
    schedule = CATALOG.get("schedule", name).factory(**options)
    schedule.setup(PER_EPOCH, TOTAL)
    return np.array([schedule.multiplier(step) for step in range(TOTAL)])


def test_builtin_schedules_are_registered():
    assert {"constant", "step", "exponential", "cosine", "one_cycle", "reduce_on_plateau"} <= set(
        CATALOG.names("schedule")
    )


def test_constant_is_one_throughout():
    assert np.array_equal(curve("constant"), np.ones(TOTAL))


def test_step_multiplies_by_factor_every_n_epochs():
    epochs = np.arange(TOTAL) // PER_EPOCH
    np.testing.assert_allclose(curve("step", every=3, factor=0.5), 0.5 ** (epochs // 3), rtol=1e-15)


def test_exponential_multiplies_by_factor_each_epoch():
    epochs = np.arange(TOTAL) // PER_EPOCH
    np.testing.assert_allclose(curve("exponential", factor=0.85), 0.85**epochs, rtol=1e-15)


def test_cosine_without_warmup_falls_from_one_to_the_floor():
    t = np.arange(TOTAL) / (TOTAL - 1)
    np.testing.assert_allclose(curve("cosine", floor=0.1), 0.1 + 0.9 * (1 + np.cos(np.pi * t)) / 2, atol=1e-15)


def test_cosine_warms_up_linearly_then_anneals():
    got = curve("cosine", warmup_epochs=2)
    warmup = 2 * PER_EPOCH
    np.testing.assert_allclose(got[:warmup], np.arange(1, warmup + 1) / warmup, rtol=1e-15)
    t = np.arange(TOTAL - warmup) / (TOTAL - 1 - warmup)
    np.testing.assert_allclose(got[warmup:], (1 + np.cos(np.pi * t)) / 2, atol=1e-15)
    assert got[warmup - 1] == 1.0 == got[warmup] and got[-1] == pytest.approx(0.0, abs=1e-15)


def test_one_cycle_rises_to_the_peak_then_falls_to_its_end():
    got = curve("one_cycle", rise=0.3, start=0.04, end=1e-4)
    peak = 0.3 * TOTAL - 1
    steps = np.arange(TOTAL)
    rising = steps <= peak
    up = 1 + (0.04 - 1) * (1 + np.cos(np.pi * steps[rising] / peak)) / 2
    down = 1e-4 + (1 - 1e-4) * (1 + np.cos(np.pi * (steps[~rising] - peak) / (TOTAL - 1 - peak))) / 2
    np.testing.assert_allclose(got, np.concatenate([up, down]), rtol=1e-12)
    assert got[0] == pytest.approx(0.04) and got.max() == pytest.approx(1.0) and got[-1] == pytest.approx(1e-4)


def _plateau(metrics, **options):
    schedule = CATALOG.get("schedule", "reduce_on_plateau").factory(**options)
    schedule.setup(PER_EPOCH, TOTAL)
    factors = []
    for value in metrics:
        schedule.observe({"val_loss": value, "val_accuracy": -value})
        factors.append(schedule.multiplier(0))
    return factors


def test_reduce_on_plateau_waits_patience_points_then_cools_down():
    # Improves twice, then flat: with patience 2 the factor halves at the second flat point. As in
    # Keras, the cooldown counter is spent at the start of a log point, so cooldown 2 keeps the next
    # point from counting and the one after counts again.
    losses = [1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]
    assert _plateau(losses, factor=0.5, patience=2, cooldown=2) == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]
    assert _plateau(losses, factor=0.5, patience=2) == [1, 1, 1, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125]


def test_reduce_on_plateau_counts_only_improvements_beyond_min_delta_and_stops_at_floor():
    losses = [1.0, 0.99, 0.98, 0.97, 0.96, 0.95]
    assert _plateau(losses, factor=0.5, patience=1, min_delta=0.05, floor=0.2) == [1, 0.5, 0.25, 0.2, 0.2, 0.2]


def test_reduce_on_plateau_on_accuracy_treats_higher_as_better():
    schedule = CATALOG.get("schedule", "reduce_on_plateau").factory(monitor="val_accuracy", patience=1, factor=0.5)
    schedule.setup(PER_EPOCH, TOTAL)
    for accuracy in (0.90, 0.95, 0.97):
        schedule.observe({"val_accuracy": accuracy, "val_loss": 0.0})
    assert schedule.multiplier(0) == 1.0
    schedule.observe({"val_accuracy": 0.96, "val_loss": 0.0})
    assert schedule.multiplier(0) == 0.5


@pytest.mark.parametrize("name", sorted(CATALOG.names("schedule")))
def test_builtin_schedule_conforms(name):
    zoo.testing.check_schedule(name, catalog=CATALOG)


@pytest.mark.parametrize("name", sorted(CATALOG.names("optimizer")))
def test_every_builtin_optimizer_scales_its_step_by_the_schedule(name):
    """The first step from zero state is linear in the learning rate: scale_lr(0.25) makes it a quarter."""
    rng = np.random.default_rng(0)
    value, grad = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    moves = []
    for factor in (1.0, 0.25):
        optimizer = CATALOG.get("optimizer", name).factory()
        params = [Param("w", value.copy(), grad.copy()), Param("v", value.copy(), grad.copy(), lr=0.003)]
        optimizer.setup(params)
        optimizer.start_epoch(0)
        optimizer.scale_lr(factor)
        optimizer.step(params)
        moves.append([p.value - value for p in params])
    for full, scaled in zip(*moves):
        assert np.abs(full).min() > 0
        np.testing.assert_allclose(scaled, 0.25 * full, rtol=1e-9)


def test_formula_docs_mention_every_builtin():
    """The README's schedule table lists every built-in schedule by name."""
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    missing = [name for name in CATALOG.names("schedule") if f"`{name}`" not in readme]
    assert not missing, missing


def test_cosine_floor_and_warmup_round_to_whole_steps():
    schedule = CATALOG.get("schedule", "cosine").factory(warmup_epochs=0.5)
    schedule.setup(10, 100)
    assert [schedule.multiplier(s) for s in range(5)] == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert math.isclose(schedule.multiplier(99), 0.0, abs_tol=1e-15)


def test_reduce_on_plateau_resumes_mid_plateau_in_the_kit():
    zoo.testing.check_schedule("reduce_on_plateau", {"patience": 1, "factor": 0.5, "cooldown": 1}, catalog=CATALOG)


class Chained:
    """Multiplies its previous value each call, as PyTorch's chained schedulers do: wrong after a resume."""

    def setup(self, steps_per_epoch, total_steps):
        self.value = 1.0

    def multiplier(self, step):
        self.value *= 0.99
        return self.value


class ForgetsItsWait:
    """Watches val_loss but saves only its factor: resumed mid-plateau, it reduces late."""

    monitor = "val_loss"

    def setup(self, steps_per_epoch, total_steps):
        self.factor, self.best, self.wait = 1.0, float("inf"), 0

    def multiplier(self, step):
        return self.factor

    def observe(self, metrics):
        if metrics["val_loss"] < self.best:
            self.best, self.wait = metrics["val_loss"], 0
        else:
            self.wait += 1
            if self.wait >= 2:
                self.factor, self.wait = self.factor / 2, 0

    def state(self):
        return {"factor": np.array(self.factor), "best": np.array(self.best)}

    def load_state(self, state):
        self.factor, self.best = float(state["factor"]), float(state["best"])


class BadSchedules:
    @zoo.hookimpl
    def register_schedules(self, register):
        register("chained", Chained)
        register("forgets-its-wait", ForgetsItsWait)


@pytest.mark.parametrize(
    "name, message",
    [("chained", "gave other values when asked again or in another order"), ("forgets-its-wait", "the resume check")],
)
def test_the_kit_catches_schedules_that_would_not_resume_exactly(name, message):
    with pytest.raises(zoo.testing.ConformanceError, match=message):
        zoo.testing.check_schedule(name, catalog=zoo.testing.catalog_with(BadSchedules()))
