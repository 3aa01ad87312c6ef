"""Registry entries: validation, error messages with suggestions, and --set overrides."""

import numpy as np
import pytest

from zoo.config import ModelEntry, apply_overrides, parse_toml
from zoo.errors import ConfigError, UnknownNameError, ZooError
from zoo.network import build_network
from zoo.plugins import default_catalog
from zoo.registry import list_entries, load_entry

MINIMAL = """
description = "test entry"
tags = ["test"]
[[layers]]
type = "dense"
units = 10
[loss]
type = "softmax_cross_entropy"
[optimizer]
type = "sgd"
lr = 0.1
[batches]
type = "shuffled"
size = 32
[train]
epochs = 1
"""


@pytest.fixture(scope="module")
def catalog():
    return default_catalog()


def entry_from(text, catalog):
    return ModelEntry.from_toml("t", text, "t.toml", catalog)


def test_minimal_entry_loads_with_defaults(catalog):
    entry = entry_from(MINIMAL, catalog)
    assert entry.data.dataset == "mnist" and entry.data.validation == 0
    assert entry.train.dtype == "float32" and entry.train.seed == 0
    assert entry.architecture == [784, 10]
    assert entry.layers[0].ref.type == "dense" and entry.layers[0].ref.options == {"units": 10}


def test_every_registry_entry_loads(catalog):
    entries = list_entries(catalog)
    names = {e.name for e in entries}
    assert {f"seed-00{i}" for i in range(5)} <= {n[:8] for n in names}
    assert all(e.description for e in entries)


def test_seed_entries_are_named_and_tagged(catalog):
    seeds = [e for e in list_entries(catalog) if "seed" in e.tags]
    assert sorted(e.name[:8] for e in seeds) == [f"seed-00{i}" for i in range(5)]
    tuned = [e.architecture for e in list_entries(catalog) if "tuned" in e.tags]
    assert [784, 10, 10] in tuned and [784, 512, 10] in tuned and [784, 100, 200, 200, 10] in tuned


@pytest.mark.parametrize(
    "change, expected",
    [
        (('type = "dense"', 'type = "dens"'), "t.toml: layers.0.type: unknown layer 'dens'; did you mean 'dense'?"),
        (
            ("[train]\nepochs = 1", "[train]\nepoch = 1"),
            "t.toml: train.epoch: unknown key 'epoch'; did you mean 'epochs'?",
        ),
        (("lr = 0.1", "lr = -0.1"), "t.toml: optimizer: 'lr' must be a finite number > 0, got -0.1"),
        (("lr = 0.1", 'lr = "fast"'), "t.toml: optimizer: 'lr' must be a finite number > 0, got 'fast'"),
        (("units = 10", "units = 0"), "t.toml: layers.0: 'units' must be an integer > 0, got 0"),
        (("units = 10", "units = 10\nwidth = 3"), "t.toml: layers.0.width: unknown key 'width' for layer 'dense'"),
        (('type = "shuffled"', 'type = "shufled"'), "did you mean 'shuffled'?"),
        (("epochs = 1", "epochs = 1\nsteps = 3"), "t.toml: train: give exactly one of epochs or steps"),
        (("epochs = 1", "epochs = 1.5"), "t.toml: train.epochs: expected an integer, got 1.5"),
        (('tags = ["test"]', "tags = [1]"), "t.toml: tags: expected an array of strings"),
        (('description = "test entry"', 'descripton = "x"'), "did you mean 'description'?"),
        (
            ('tags = ["test"]', 'tags = ["test"]\n[data]\ndataset = "mnsit"'),
            "t.toml: data.dataset: unknown dataset 'mnsit'; did you mean 'mnist'?",
        ),
    ],
)
def test_config_errors_are_one_clear_line(catalog, change, expected):
    text = MINIMAL.replace(*change)
    assert text != MINIMAL
    with pytest.raises(ZooError) as caught:  # ConfigError, or UnknownNameError for a misspelt name
        entry_from(text, catalog)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_initialiser_names_are_checked(catalog):
    text = MINIMAL.replace("units = 10", 'units = 10\nweight_init = "he_norm"')
    with pytest.raises(
        UnknownNameError, match=r"layers.0.weight_init.type: unknown initialiser 'he_norm'; did you mean 'he_normal'"
    ):
        entry_from(text, catalog)


def test_dropout_rate_out_of_range(catalog):
    text = MINIMAL.replace("[loss]", '[[layers]]\ntype = "dropout"\nrate = 1.0\n[loss]')
    with pytest.raises(ConfigError, match=r"layers.1: 'rate' must be a finite number >= 0 and < 1, got 1.0"):
        entry_from(text, catalog)


def build(text, catalog):
    return build_network(entry_from(text, catalog), catalog, 784, 10, np.random.SeedSequence(0))


def test_malformed_toml_names_line_and_column():
    with pytest.raises(ConfigError, match=r"t.toml: malformed TOML: .*line 2, column"):
        parse_toml("a = 1\nb = = 2\n", "t.toml")


def test_last_layer_must_match_classes(catalog):
    text = MINIMAL.replace("units = 10", "units = 7")
    with pytest.raises(
        ConfigError, match=r"layers.0: the last layer \(dense\) gives 7 outputs but mnist has 10 classes"
    ):
        build(text, catalog)


def test_overrides_apply_and_revalidate(catalog):
    entry = load_entry("seed-003-minibatch-per-layer-lr", catalog, ["train.epochs=2", "layers.0.lr=0.05"])
    assert entry.train.epochs == 2 and entry.layers[0].lr == 0.05
    switched = load_entry("seed-003-minibatch-per-layer-lr", catalog, ["train.steps=10"])
    assert switched.train.steps == 10 and switched.train.epochs is None
    adam = load_entry("seed-004-online-sgd", catalog, ["optimizer.type=adam", "optimizer.lr=0.001"])
    assert adam.optimizer.type == "adam"


@pytest.mark.parametrize(
    "override, expected",
    [
        ("train.epochs", "expected KEY.PATH=VALUE"),
        ("trian.epochs=3", "(with --set): trian: unknown key 'trian'; did you mean 'train'?"),
        (
            "optimizer.momentun=0.9",
            "optimizer.momentun: unknown key 'momentun' for optimizer 'sgd'; did you mean 'momentum'?",
        ),
        ("layers.99.rate=0.3", "layers.99: no such index"),
        ("layers.0.units=-5", "(with --set): layers.0: 'units' must be an integer > 0, got -5"),
        ("optimizer.lr=abc", "optimizer: 'lr' must be a finite number > 0, got 'abc'"),
        ("layers.1.rate=0.3", "unknown key 'rate' for layer 'relu'"),
    ],
)
def test_bad_overrides(catalog, override, expected):
    with pytest.raises(ConfigError) as caught:
        load_entry("seed-003-minibatch-per-layer-lr", catalog, [override])
    assert expected in str(caught.value)


def test_overrides_create_missing_tables(catalog):
    assert "[data]" not in MINIMAL
    entry = entry_from(MINIMAL, catalog).with_overrides(["data.validation=1000", "data.split=random"], catalog)
    assert entry.data.validation == 1000 and entry.data.split == "random"


def test_overrides_do_not_touch_the_original():
    table = parse_toml(MINIMAL, "t.toml")
    apply_overrides(table, ["train.epochs=5"])
    assert table["train"]["epochs"] == 1


def test_override_values_are_read_as_toml():
    table = apply_overrides(parse_toml(MINIMAL, "t"), ["train.epochs=5", "optimizer.nesterov=true", 'batches.type="x"'])
    assert table["train"]["epochs"] == 5 and table["optimizer"]["nesterov"] is True and table["batches"]["type"] == "x"
