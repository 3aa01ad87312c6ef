"""Shipped weights: every file reproduces its recorded accuracy exactly, matches its entry's recipe, and is
refused once the entry changes; zoo list shows them; zoo reproduce retrains and compares."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import zoo
from zoo import modelfile
from zoo.cli.app import app
from zoo.entries import load_entry
from zoo.loading import default_catalog
from zoo.recipe import recipe_hash
from zoo.weights import WeightsError, load_pretrained

WEIGHTS = Path(__file__).resolve().parents[1] / "registry" / "weights"
SHIPPED = sorted(path.stem for path in WEIGHTS.glob("*.npz"))


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_every_registry_entry_ships_weights_within_the_size_budget():
    entries = sorted(path.stem for path in WEIGHTS.parent.glob("*.toml"))
    assert SHIPPED == entries  # every entry trains in under 30 minutes here, so every one ships weights
    assert sum(path.stat().st_size for path in WEIGHTS.glob("*.npz")) <= 40e6
    assert sorted(default_catalog().names("weights")) == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_score_exactly_their_recorded_accuracy_and_match_their_recipe(name, data_env):
    meta = modelfile.read_meta(WEIGHTS / f"{name}.npz")
    catalog = default_catalog()
    assert meta["recipe"] == recipe_hash(load_entry(name, catalog), catalog), f"{name} changed since its weights"
    assert {"seed", "test_accuracy", "val_accuracy", "train_seconds", "zoo_version", "trained", "dataset"} <= set(meta)
    result = run("evaluate", name, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["test_accuracy"] == meta["test_accuracy"]


def test_list_shows_which_entries_have_weights_and_their_recorded_accuracy():
    rows = {row["name"]: row for row in json.loads(run("list", "--json").stdout)}
    meta = modelfile.read_meta(WEIGHTS / "lenet-5.npz")
    assert rows["lenet-5"]["weights"]["test_accuracy"] == meta["test_accuracy"]
    text = run("list", "lenet-5").stdout
    assert "weights" in text.splitlines()[0] and f"{meta['test_accuracy']:.2%}" in text


def weights_plugin(entry: str, path: Path):
    class Weights:
        @zoo.hookimpl
        def register_weights(self, register):
            register(entry, lambda: path)

    return Weights()


@pytest.fixture
def own_entry(tmp_path, monkeypatch):
    """An entry ``mine`` outside the package (a copy of seed 001), with no weights of its own."""
    entries = tmp_path / "entries"
    entries.mkdir()
    (entries / "mine.toml").write_text((WEIGHTS.parent / "seed-001-full-batch-gd.toml").read_text())
    monkeypatch.setenv("ZOO_REGISTRY_PATH", str(entries))
    default_catalog.cache_clear()  # built once per process: let it see the directory
    yield "mine"
    default_catalog.cache_clear()


def test_weights_for_a_changed_recipe_are_refused_in_one_line(own_entry):
    seed_000 = WEIGHTS / "seed-000-random-sample-sgd.npz"
    name = zoo.register_plugin(weights_plugin(own_entry, seed_000))
    try:
        with pytest.raises(WeightsError, match="mine: the shipped weights were trained from another recipe .the entry"):
            zoo.create(own_entry, pretrained=True)
    finally:
        zoo.unregister_plugin(name)
    with pytest.raises(WeightsError, match="--set changes its recipe"):
        load_pretrained("lenet-5", default_catalog(), ["train.epochs=1"])


def test_weights_whose_record_was_measured_with_other_test_time_shifts_are_refused(own_entry, tmp_path):
    """The shifts are not part of the recipe, so the recipe hash alone would let a stale test figure through."""
    entry_file = tmp_path / "entries" / "mine.toml"
    entry_file.write_text(entry_file.read_text() + "\n[test_time]\nshifts = 4\n")
    name = zoo.register_plugin(weights_plugin(own_entry, WEIGHTS / "seed-001-full-batch-gd.npz"))
    try:
        message = "mine: the shipped weights record a test accuracy measured with 0 test-time shifts, but the entry"
        with pytest.raises(WeightsError, match=message):
            zoo.create(own_entry, pretrained=True)
        unshifted = zoo.create(own_entry, pretrained=True, set={"test_time.shifts": 0})  # asked for: accepted
        assert unshifted.entry.test_time.shifts == 0
    finally:
        zoo.unregister_plugin(name)


def test_the_kit_checks_weights_and_fails_those_of_a_changed_recipe(own_entry):
    from zoo.session import catalog
    from zoo.testing import ConformanceError, check_weights

    check_weights("lenet-5")
    name = zoo.register_plugin(weights_plugin(own_entry, WEIGHTS / "seed-000-random-sample-sgd.npz"))
    try:
        with pytest.raises(ConformanceError, match="weights 'mine' .* fails loading: .*another recipe"):
            check_weights(own_entry, catalog=catalog())
    finally:
        zoo.unregister_plugin(name)


@pytest.mark.parametrize("given", [None, "missing.npz", 42])
def test_weights_a_plugin_gives_that_are_not_a_model_file_are_one_line_naming_it(own_entry, given):
    name = zoo.register_plugin(weights_plugin(own_entry, given))
    try:
        with pytest.raises(
            zoo.ZooError, match="weights 'mine' .plugin '.*Weights'. gave .*not the path of an existing"
        ):
            zoo.create(own_entry, pretrained=True)
    finally:
        zoo.unregister_plugin(name)


def test_an_entry_without_weights_is_refused_naming_those_with_weights(tmp_path, monkeypatch):
    (tmp_path / "mine.toml").write_text((WEIGHTS.parent / "seed-000-random-sample-sgd.toml").read_text())
    monkeypatch.setenv("ZOO_REGISTRY_PATH", str(tmp_path))
    default_catalog.cache_clear()
    try:
        result = run("evaluate", "mine")
    finally:
        default_catalog.cache_clear()
    assert result.exit_code == 1
    assert "error: mine: no trained weights are shipped for this entry (train it: zoo train mine)" in result.output
    assert "lenet-5" in result.output and "Traceback" not in result.output


def test_a_plugin_ships_weights_for_its_own_entry_as_the_built_ins_do(data_env, tmp_path):
    out = tmp_path / "w.npz"
    trained = run("train", "tuned-784-10-10-adam", "--set", "train.steps=10", "--out", out, "--json")
    assert trained.exit_code == 0, trained.output
    # The built-in weights claim this name: a plugin registering weights for it again is refused at once.
    with pytest.raises(zoo.ZooError, match="weights 'tuned-784-10-10-adam' is registered by both"):
        zoo.register_plugin(weights_plugin("tuned-784-10-10-adam", out))
    from zoo.session import session_plugins

    assert session_plugins() == []


def test_reproduce_retrains_and_agrees_with_the_recorded_metrics(data_env):
    result = run("reproduce", "seed-000-random-sample-sgd", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    meta = modelfile.read_meta(WEIGHTS / "seed-000-random-sample-sgd.npz")
    assert document["recorded"]["test_accuracy"] == meta["test_accuracy"]
    assert document["agrees"] and document["tolerance"] == 0.005
    assert abs(document["differences"]["test_accuracy"]) <= 0.005


def test_reproduce_says_differs_and_exits_1_when_the_record_is_not_reproduced(data_env, tmp_path, monkeypatch):
    entries = tmp_path / "entries"
    entries.mkdir()  # an entry with seed 000's recipe under another name, and weights recording too much
    (entries / "mine.toml").write_text((WEIGHTS.parent / "seed-000-random-sample-sgd.toml").read_text())
    monkeypatch.setenv("ZOO_REGISTRY_PATH", str(entries))
    default_catalog.cache_clear()  # built once per process: let it see the directory
    network, entry, meta = load_pretrained("seed-000-random-sample-sgd", default_catalog())
    inflated = modelfile.save(tmp_path / "inflated.npz", network, entry, meta=meta | {"test_accuracy": 0.99})
    session = zoo.register_plugin(weights_plugin("mine", inflated))  # same recipe, an accuracy never reached
    try:
        result = run("reproduce", "mine")
    finally:
        zoo.unregister_plugin(session)
        default_catalog.cache_clear()
    assert result.exit_code == 1, result.output
    assert "99.00%" in result.stdout and "mine: DIFFERS within 0.50 points (seed 0" in result.stdout
