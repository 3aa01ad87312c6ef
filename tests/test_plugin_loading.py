"""Plugins from outside the installed set, broken plugins, disabled plugins and entries from ZOO_REGISTRY_PATH.

Each test writes a real plugin module or entry file and runs the real CLI on it: a broken
plugin must leave unrelated commands working and make the commands that need it fail
with one line naming it.
"""

import json
import textwrap

import pytest
from typer.testing import CliRunner

from zoo.cli import app
from zoo.loading import default_catalog

runner = CliRunner()
QUICK = ["--set", "train.steps=5"]
UNRELATED = "seed-000-random-sample-sgd"  # uses only dense, relu, sgd, random_sample, mnist

IMPORT_ERROR = "import no_such_module_anywhere\n"
HOOK_RAISES = """
import zoo

@zoo.hookimpl
def register_layers(register):
    raise RuntimeError("the hook broke")
"""
CLAIMS_ADAM = """
import zoo

@zoo.hookimpl
def register_optimizers(register):
    register("adam", object)
"""
GOOD = """
import attrs
import zoo

@attrs.define
class Halve:
    def build(self, in_features, dtype, rng):
        return in_features
    def params(self):
        return []
    def forward(self, x, training):
        return x * x.dtype.type(0.5)
    def backward(self, dy, need_dx=True):
        return dy * dy.dtype.type(0.5)

@zoo.hookimpl
def register_layers(register):
    register("halve", Halve)
"""


@pytest.fixture(autouse=True)
def fresh_catalog(monkeypatch, data_env):
    """Each test sees its own environment: the catalog is rebuilt before and after."""
    for name in ("ZOO_PLUGINS", "ZOO_DISABLE_PLUGINS", "ZOO_REGISTRY_PATH"):
        monkeypatch.setenv(name, "")  # recorded, so whatever a test (or --plugin) sets is undone
    monkeypatch.setattr("sys.path", list(__import__("sys").path))  # undo the current directory a plugin adds
    default_catalog.cache_clear()
    yield
    default_catalog.cache_clear()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def plugin_file(tmp_path, name, source):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def error_line(result):
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize(
    "source, reason",
    [
        (IMPORT_ERROR, "failed to load: ModuleNotFoundError"),
        (HOOK_RAISES, "register_layers raised RuntimeError: the hook broke"),
        (CLAIMS_ADAM, "'adam' is registered by both"),
    ],
    ids=["import-error", "hook-raises", "duplicate-name"],
)
def test_a_broken_plugin_is_listed_and_unrelated_commands_keep_working(tmp_path, monkeypatch, source, reason):
    path = plugin_file(tmp_path, "broken_plugin", source)
    monkeypatch.setenv("ZOO_PLUGINS", str(path))
    document = json.loads(run("plugins", "--json").stdout)
    assert [f for f in document["failures"] if reason in f["reason"] and f["plugin"] == str(path)]
    assert run("list").exit_code == 0
    trained = run("train", UNRELATED, *QUICK, "--json")
    assert trained.exit_code == 0, trained.stderr
    assert json.loads(trained.stdout)["name"] == UNRELATED


def test_a_duplicate_name_fails_only_where_used_naming_both_plugins(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_PLUGINS", str(plugin_file(tmp_path, "claims_adam", CLAIMS_ADAM)))
    line = error_line(run("train", "tuned-784-10-10-adam", *QUICK))
    assert "optimizer.type: optimizer 'adam' is registered by both plugin 'zoo_builtins.optimizers'" in line
    assert "claims_adam.py" in line


def test_a_name_missing_because_its_plugin_broke_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_PLUGINS", str(plugin_file(tmp_path, "broken_layers", HOOK_RAISES)))
    entry = tmp_path / "uses-halve.toml"
    entry.write_text(ENTRY_WITH_HALVE)
    line = error_line(run("train", entry, *QUICK))
    assert "unknown layer 'halve'" in line
    assert "broken_layers.py' failed: register_layers raised RuntimeError: the hook broke" in line


ENTRY_WITH_HALVE = """
description = "a dense layer, halved"
data = {dataset = "mnist"}
layers = [{type = "dense", units = 10}, {type = "halve"}]
loss = {type = "softmax_cross_entropy"}
optimizer = {type = "sgd", lr = 0.1}
batches = {type = "shuffled", size = 64}
train = {epochs = 1}
"""


@pytest.mark.parametrize("how", ["option", "env-module", "env-file"])
def test_a_plugin_module_that_is_not_installed_loads_for_quick_experiments(tmp_path, monkeypatch, how):
    path = plugin_file(tmp_path, "halve_plugin", GOOD)
    entry = tmp_path / "uses-halve.toml"
    entry.write_text(ENTRY_WITH_HALVE)
    monkeypatch.chdir(tmp_path)  # a dotted module name is found in the current directory
    if how == "option":
        args = ["--plugin", "halve_plugin"]
    else:
        monkeypatch.setenv("ZOO_PLUGINS", "halve_plugin" if how == "env-module" else str(path))
        args = []
    listed = json.loads(run(*args, "plugins", "--json").stdout)["plugins"]
    assert {"kind": "layer", "name": "halve"} in [{"kind": p["kind"], "name": p["name"]} for p in listed]
    result = run(*args, "train", entry, *QUICK, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["name"] == "uses-halve"


def test_disabling_a_plugin_removes_its_names_and_says_why(monkeypatch):
    monkeypatch.setenv("ZOO_DISABLE_PLUGINS", "zoo_builtins.augmenters")
    document = json.loads(run("plugins", "--json").stdout)
    assert {"plugin": "zoo_builtins.augmenters", "package": "numpy-zoo"} in document["disabled"]
    assert not [p for p in document["plugins"] if p["kind"] == "augmenter"]
    line = error_line(run("train", "tuned-784-100-200-200-10-dropout-augment", *QUICK))
    assert "unknown augmenter 'affine'" in line
    assert run("train", UNRELATED, *QUICK).exit_code == 0


def test_registry_path_adds_entries_and_a_clash_is_reported_not_fatal(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    (first / "my-entry.toml").write_text(ENTRY_WITH_HALVE.replace('{type = "halve"}', '{type = "relu"}'))
    (second / "seed-000-random-sample-sgd.toml").write_text("description = 'a copy'\n")
    monkeypatch.setenv("ZOO_REGISTRY_PATH", f"{first}:{second}")
    rows = {row["name"]: row for row in json.loads(run("list", "--json").stdout)}
    assert rows["my-entry"]["source"] == str(first / "my-entry.toml") and rows["my-entry"]["error"] is None
    clash = rows["seed-000-random-sample-sgd"]["error"]
    assert (
        "model 'seed-000-random-sample-sgd' is registered by both" in clash and f"ZOO_REGISTRY_PATH:{second}" in clash
    )
    assert rows["seed-001-full-batch-gd"]["error"] is None  # the other entries are unaffected
    assert run("train", "my-entry", *QUICK).exit_code == 0
    assert "registered by both" in error_line(run("train", "seed-000-random-sample-sgd", *QUICK))


def test_an_invalid_entry_is_listed_as_broken_and_the_others_still_list(tmp_path, monkeypatch):
    (tmp_path / "typo.toml").write_text(ENTRY_WITH_HALVE.replace("halve", "relu").replace("epochs", "epoch"))
    monkeypatch.setenv("ZOO_REGISTRY_PATH", str(tmp_path))
    result = run("list")
    assert result.exit_code == 0 and "seed-004-online-sgd" in result.stdout
    assert "typo.toml: train.epoch: unknown key 'epoch'" in result.stderr and "did you mean 'epochs'" in result.stderr
