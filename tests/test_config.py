"""Registry entries on good input: defaults, the built-in registry, and --set overrides.

Every kind of bad entry or override is in test_faults_config.py.
"""

import numpy as np

from zoo.config import ModelEntry, apply_overrides, parse_toml
from zoo.entries import load_entry, survey_entries
from zoo.errors import ZooError
from zoo.network import build_network
from zoo.summary import architecture

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


def entry_from(text, catalog):
    return ModelEntry.from_toml("t", text, "t.toml", catalog)


def test_minimal_entry_loads_with_defaults(catalog):
    entry = entry_from(MINIMAL, catalog)
    assert entry.data.dataset == "mnist" and entry.data.validation == 0
    assert entry.train.dtype == "float32" and entry.train.seed == 0
    assert architecture(build_network(entry, catalog, (1, 28, 28), 10, np.random.SeedSequence(0))) == [784, 10]
    assert entry.layers[0].ref.type == "dense" and entry.layers[0].ref.options == {"units": 10}


def entries(catalog):
    """Every built-in entry, validated; none may be broken."""
    surveyed = survey_entries(catalog)
    assert not [(name, entry) for name, entry in surveyed if isinstance(entry, ZooError)]
    return [entry for _, entry in surveyed]


def test_every_registry_entry_loads(catalog):
    entries_ = entries(catalog)
    names = {e.name for e in entries_}
    assert {f"seed-00{i}" for i in range(5)} <= {n[:8] for n in names}
    assert all(e.description for e in entries_)


def test_seed_entries_are_named_and_tagged(catalog):
    seeds = [e for e in entries(catalog) if "seed" in e.tags]
    assert sorted(e.name[:8] for e in seeds) == [f"seed-00{i}" for i in range(5)]
    tuned = [
        architecture(build_network(e, catalog, (1, 28, 28), 10, np.random.SeedSequence(0)))
        for e in entries(catalog)
        if "tuned" in e.tags
    ]
    assert [784, 10, 10] in tuned and [784, 512, 10] in tuned and [784, 100, 200, 200, 10] in tuned


def test_overrides_apply_and_revalidate(catalog):
    entry = load_entry("seed-003-minibatch-per-layer-lr", catalog, ["train.epochs=2", "layers.0.lr=0.05"])
    assert entry.train.epochs == 2 and entry.layers[0].lr == 0.05
    switched = load_entry("seed-003-minibatch-per-layer-lr", catalog, ["train.steps=10"])
    assert switched.train.steps == 10 and switched.train.epochs is None
    adam = load_entry("seed-004-online-sgd", catalog, ["optimizer.type=adam", "optimizer.lr=0.001"])
    assert adam.optimizer.type == "adam"


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
