"""The example plugin package, installed as a user would: its names appear, its entry trains to 97 %, its own
tests pass, and uninstalling it takes every name away again. Each environment is a throwaway venv."""

import importlib.metadata
import json
from pathlib import Path

import pytest
from throwaway import ThrowawayVenv

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "zoo-plugin-example"
PACKAGE = "zoo-plugin-example"
ENTRY = "example-784-256-10-leaky-rmsprop"
NAMES = {
    ("layer", "leaky_relu"),
    ("optimizer", "rmsprop"),
    ("initialiser", "orthogonal"),
    ("augmenter", "random_erasing"),
    ("model", ENTRY),
}


CLEAN = {"ZOO_PLUGINS": None, "ZOO_DISABLE_PLUGINS": None, "ZOO_REGISTRY_PATH": None}
"""Plugin settings of the calling environment must not change what the venv sees."""


def venv_with_example(path: Path) -> ThrowawayVenv:
    """A throwaway venv at ``path`` with the example installed."""
    try:
        found = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        pass
    else:  # the venv would see that copy too, and could not uninstall it
        pytest.fail(f"{PACKAGE} is installed in this environment ({found.locate_file('')}): pip uninstall {PACKAGE}")
    venv = ThrowawayVenv(path)
    venv.install(EXAMPLE)
    return venv


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    return venv_with_example(tmp_path_factory.mktemp("example") / "venv")


def zoo_json(venv: ThrowawayVenv, *args: str):
    result = venv.zoo(*args, "--json", env=CLEAN)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def example_plugins(venv: ThrowawayVenv) -> set[tuple[str, str]]:
    document = zoo_json(venv, "plugins")
    assert not [f for f in document["failures"] if f["package"] == PACKAGE]
    return {(p["kind"], p["name"]) for p in document["plugins"] if p["package"] == PACKAGE}


def test_zoo_plugins_lists_every_example_name_with_its_package(venv):
    assert example_plugins(venv) == NAMES


def test_zoo_list_shows_the_example_entry(venv):
    (row,) = [row for row in zoo_json(venv, "list") if row["name"] == ENTRY]
    assert row["error"] is None and row["tags"] == ["example"] and row["architecture"] == [784, 256, 10]


def test_the_example_entry_trains_to_97_percent(venv, data_env):
    if not (data_env / "mnist").is_dir():
        pytest.skip(f"real MNIST not found under {data_env}; set ZOO_DATA")
    result = zoo_json(venv, "train", ENTRY)
    assert result["test_accuracy"] >= 0.97


def test_the_examples_own_tests_pass_in_the_venv(venv):
    result = venv.pytest("-q", EXAMPLE / "tests", env=CLEAN)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "skipped" not in result.stdout


def test_uninstalling_takes_every_name_away(tmp_path):
    venv = venv_with_example(tmp_path / "venv")
    assert example_plugins(venv) == NAMES
    venv.uninstall(PACKAGE)
    assert example_plugins(venv) == set()
    assert ENTRY not in [row["name"] for row in zoo_json(venv, "list")]
    result = venv.zoo("show", ENTRY, env=CLEAN)
    assert result.returncode == 1 and f"unknown model {ENTRY!r}" in result.stderr


def test_the_plugin_guide_shows_the_example_layer_module_as_it_is():
    guide = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    module = (EXAMPLE / "src" / "zoo_plugin_example" / "layers.py").read_text(encoding="utf-8")
    assert f"```python\n{module}```" in guide
