"""The example plugin package, installed as a user would: its names appear, its entry trains to 97 %, its own
tests pass, and uninstalling it takes every name away again. Each environment is a throwaway venv.

Every check but uninstalling runs on two packages: today's example (layer contract 2) and zoo 0.1's,
``tests/fixtures/zoo-plugin-example-v1``, kept unchanged to prove that plugins written for zoo 0.1
(contract-1 layers on flat batches) keep working. They share a distribution name, so each has its own venv.
"""

import importlib.metadata
import json
import re
import types
from pathlib import Path
from typing import NamedTuple

import pytest
from throwaway import ThrowawayVenv, build_wheel

import zoo.testing

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "zoo-plugin-example"
EXAMPLE_V1 = ROOT / "tests" / "fixtures" / "zoo-plugin-example-v1"
PACKAGE = "zoo-plugin-example"
ENTRY = "example-784-256-10-leaky-rmsprop"
NAMES_V1 = {
    ("layer", "leaky_relu"),
    ("optimizer", "rmsprop"),
    ("initialiser", "orthogonal"),
    ("augmenter", "random_erasing"),
    ("model", ENTRY),
}
NAMES = NAMES_V1 | {("layer", "channel_dropout"), ("model", "example-cnn-8-16-10-channel-dropout")}
GUIDE = ROOT / "docs" / "plugins.md"


CLEAN = {"ZOO_PLUGINS": None, "ZOO_DISABLE_PLUGINS": None, "ZOO_REGISTRY_PATH": None}
"""Plugin settings of the calling environment must not change what the venv sees."""


class Installed(NamedTuple):
    """An example package installed in a throwaway venv of its own."""

    venv: ThrowawayVenv
    source: Path
    wheel: Path
    names: set[tuple[str, str]]


def install_example(path: Path, source: Path, names: set[tuple[str, str]]) -> Installed:
    """A throwaway venv at ``path / "venv"`` with the example package in ``source`` installed from a wheel."""
    try:
        found = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        pass
    else:  # the venv would see that copy too, and could not uninstall it
        pytest.fail(f"{PACKAGE} is installed in this environment ({found.locate_file('')}): pip uninstall {PACKAGE}")
    wheel = build_wheel(source, path / "wheels")
    venv = ThrowawayVenv(path / "venv")
    venv.install(wheel)
    return Installed(venv, source, wheel, names)


@pytest.fixture(scope="module")
def current(tmp_path_factory):
    """Today's example, ``examples/zoo-plugin-example``."""
    return install_example(tmp_path_factory.mktemp("example"), EXAMPLE, NAMES)


@pytest.fixture(scope="module")
def v1(tmp_path_factory):
    """zoo 0.1's example, unchanged."""
    return install_example(tmp_path_factory.mktemp("example-v1"), EXAMPLE_V1, NAMES_V1)


@pytest.fixture(params=["current", "v1"])
def example(request):
    """Each example package in turn, in its venv (made once per test module)."""
    return request.getfixturevalue(request.param)


def zoo_json(venv: ThrowawayVenv, *args: str):
    result = venv.zoo(*args, "--json", env=CLEAN)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def example_plugins(venv: ThrowawayVenv) -> set[tuple[str, str]]:
    document = zoo_json(venv, "plugins")
    assert not [f for f in document["failures"] if f["package"] == PACKAGE]
    return {(p["kind"], p["name"]) for p in document["plugins"] if p["package"] == PACKAGE}


def test_zoo_plugins_lists_every_example_name_with_its_package(example):
    assert example_plugins(example.venv) == example.names


def test_zoo_list_shows_the_example_entry(example):
    (row,) = [row for row in zoo_json(example.venv, "list") if row["name"] == ENTRY]
    assert row["error"] is None and row["tags"] == ["example"] and row["architecture"] == [784, 256, 10]


def test_the_example_entry_trains_to_97_percent(example, data_env):
    if not (data_env / "mnist").is_dir():
        pytest.skip(f"real MNIST not found under {data_env}; set ZOO_DATA")
    result = zoo_json(example.venv, "train", ENTRY)
    assert result["test_accuracy"] >= 0.97


def test_the_examples_own_tests_pass_in_the_venv(example):
    result = example.venv.pytest("-q", example.source / "tests", env=CLEAN)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "skipped" not in result.stdout


def test_uninstalling_takes_every_name_away(current):
    venv = current.venv
    venv.uninstall(PACKAGE)
    try:
        assert example_plugins(venv) == set()
        assert ENTRY not in [row["name"] for row in zoo_json(venv, "list")]
        result = venv.zoo("show", ENTRY, env=CLEAN)
        assert result.returncode == 1 and f"unknown model {ENTRY!r}" in result.stderr
    finally:
        venv.install(current.wheel)  # for the tests that run after this one
    assert example_plugins(venv) == NAMES


def guide_block(after: str) -> str:
    """The first ```python block of the plugin guide after the line ``after``."""
    guide = GUIDE.read_text(encoding="utf-8")
    assert after in guide, f"docs/plugins.md no longer has {after!r}"
    return re.search(r"```python\n(.*?)```", guide[guide.index(after) :], re.S).group(1)


@pytest.mark.parametrize("module", ["layers.py", "channel_dropout.py"])
def test_the_plugin_guide_shows_the_example_layer_modules_as_they_are(module):
    guide = GUIDE.read_text(encoding="utf-8")
    source = (EXAMPLE / "src" / "zoo_plugin_example" / module).read_text(encoding="utf-8")
    assert f"```python\n{source}```" in guide


@pytest.mark.parametrize("in_shape", [(6,), (3, 4, 5)])
def test_the_plugin_guides_layer_with_state_keeps_the_contract(in_shape):
    module = types.ModuleType("my_layers")
    exec(compile(guide_block("### Layer state that is not trained"), "docs/plugins.md", "exec"), module.__dict__)
    zoo.testing.check_layer("mean_only_batchnorm", catalog=zoo.testing.catalog_with(module), in_shape=in_shape)
