"""``zoo new-plugin``: the package it writes, its one-line refusals, and that it installs and passes its own tests."""

import importlib
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from throwaway import ThrowawayVenv
from typer.testing import CliRunner

import zoo.cli.scaffold  # noqa: F401  (registers the new-plugin command)
from zoo import scaffold
from zoo.catalog import KINDS
from zoo.cli import app
from zoo.entries import load_entry
from zoo.layers import CONTRACT, contract_of
from zoo.loading import build_catalog, load_plugins

runner = CliRunner()
MODULES = ("layers", "initialisers", "optimizers", "losses", "batches", "schedules", "augmenters", "models")
# The README says a dataset is left out; weights come from training the package's entries.
KINDS_GENERATED = set(KINDS) - {"dataset", "weights"}
DEMO_NAMES = {
    "demo-scaled-tanh",
    "demo-lecun-uniform",
    "demo-rmsprop",
    "demo-label-smoothing",
    "demo-bootstrap",
    "demo-inverse-sqrt",
    "demo-pixel-noise",
    "demo-mlp",
}


def new_plugin(*args):
    return runner.invoke(app, ["new-plugin", *map(str, args)])


def files_under(path: Path) -> set[str]:
    return {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}


@pytest.fixture
def generated_modules(monkeypatch):
    """Import generated packages from their source trees; forget them afterwards."""
    yield lambda package_dir: _import_generated(package_dir, monkeypatch)
    for name in [n for n in sys.modules if n.startswith("zoo_plugin_")]:
        del sys.modules[name]


def _import_generated(package_dir: Path, monkeypatch):
    monkeypatch.syspath_prepend(str(package_dir / "src"))
    package = "zoo_plugin_" + package_dir.name.removeprefix("zoo-plugin-").replace("-", "_")
    return [importlib.import_module(f"{package}.{module}") for module in MODULES]


def test_writes_a_package_with_every_kind_entry_points_and_tests(tmp_path):
    result = new_plugin("demo", "--dir", tmp_path)
    assert result.exit_code == 0, result.stderr
    target = tmp_path / "zoo-plugin-demo"
    assert str(target) in result.stdout
    source = [f"src/zoo_plugin_demo/{m}.py" for m in ("__init__", *MODULES)]
    expected = {
        "pyproject.toml",
        "README.md",
        "tests/test_demo.py",
        "src/zoo_plugin_demo/registry/demo-mlp.toml",
        *source,
    }
    assert files_under(target) == expected

    pyproject = tomllib.loads((target / "pyproject.toml").read_text())
    assert pyproject["build-system"]["requires"] == ["setuptools>=77"]
    assert pyproject["project"]["name"] == "zoo-plugin-demo"
    assert any(d.startswith("numpy-zoo") for d in pyproject["project"]["dependencies"])
    # One entry point per module, like zoo's own built-ins, each naming a module that exists.
    entry_points = pyproject["project"]["entry-points"]["zoo"]
    assert sorted(entry_points.values()) == sorted(f"zoo_plugin_demo.{m}" for m in MODULES)
    assert pyproject["tool"]["setuptools"]["package-data"] == {"zoo_plugin_demo": ["registry/*.toml"]}

    readme = (target / "README.md").read_text()
    for text in ("pip install -e", "pytest", "zoo plugins", "zoo train demo-mlp", "no dataset"):
        assert text in readme
    assert "check_package(PACKAGE" in (target / "tests" / "test_demo.py").read_text()


def test_generated_plugins_register_one_prefixed_name_per_kind_and_never_clash(tmp_path, generated_modules):
    modules = []
    for name in ("demo", "demo-two"):
        modules += generated_modules(scaffold.new_plugin(name, tmp_path))
    catalog = build_catalog(load_plugins(modules))  # with every installed plugin, built-ins included
    assert catalog.failures == []
    for prefix in ("demo-", "demo-two-"):
        records = [r for r in catalog.records() if r.plugin.startswith(f"zoo_plugin_{prefix[:-1].replace('-', '_')}.")]
        assert {r.kind for r in records} == KINDS_GENERATED
        assert len(records) == len(KINDS_GENERATED) and all(r.name.startswith(prefix) for r in records)
    entry = load_entry("demo-two-mlp", catalog)  # the shipped entry validates against its own plugins
    assert {ref.type for ref in (entry.loss, entry.optimizer, entry.batches, *entry.augment)} == {
        "demo-two-label-smoothing",
        "demo-two-rmsprop",
        "demo-two-bootstrap",
        "demo-two-pixel-noise",
    }
    assert "demo-two-scaled-tanh" in [layer.ref.type for layer in entry.layers]


def test_the_generated_layer_is_written_to_zoos_layer_contract_and_takes_images(tmp_path, generated_modules):
    layers = generated_modules(scaffold.new_plugin("demo", tmp_path))[0]
    layer = layers.ScaledTanh()
    assert contract_of(layer) == CONTRACT
    assert layer.build((3, 4, 4), np.dtype(np.float32), np.random.default_rng(0)) == (3, 4, 4)
    assert [p.value.shape for p in layer.params()] == [(3,)]  # a gain per channel


@pytest.mark.parametrize("name", ["Demo", "my_plugin", "a--b", "x-", "1st", "dé", "a" * (scaffold.MAX_LENGTH + 1)])
def test_a_bad_name_is_one_error_line_and_writes_nothing(tmp_path, name):
    result = new_plugin(name, "--dir", tmp_path)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and repr(name) in lines[0], result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_name_starting_with_a_hyphen_is_refused():
    with pytest.raises(scaffold.ScaffoldError, match="lowercase letters, digits and single hyphens"):
        scaffold.check_name("-x")


def test_an_existing_directory_is_refused_and_left_alone(tmp_path):
    assert new_plugin("demo", "--dir", tmp_path).exit_code == 0
    readme = tmp_path / "zoo-plugin-demo" / "README.md"
    readme.write_text("my notes")
    result = new_plugin("demo", "--dir", tmp_path)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "already exists" in lines[0], result.stderr
    assert readme.read_text() == "my notes"


def test_an_unwritable_parent_is_one_error_line(tmp_path):
    parent = tmp_path / "a-file"
    parent.write_text("")
    result = new_plugin("demo", "--dir", parent)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot create ") and len(result.stderr.strip().splitlines()) == 1


def _ruff() -> str | None:
    beside_python = Path(sys.executable).with_name("ruff")
    return str(beside_python) if beside_python.is_file() else shutil.which("ruff")


@pytest.mark.skipif(_ruff() is None, reason="ruff is not installed")
@pytest.mark.parametrize("name", ["demo", "two-words", "x" * scaffold.MAX_LENGTH])
def test_generated_code_passes_ruff_with_zoos_settings(tmp_path, name):
    target = scaffold.new_plugin(name, tmp_path)
    settings = tomllib.loads((target / "pyproject.toml").read_text())["tool"]["ruff"]
    zoo_settings = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["tool"]["ruff"]
    assert settings == zoo_settings
    for command in (["check"], ["format", "--check"]):
        result = subprocess.run([_ruff(), *command, "."], cwd=target, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_new_plugin_demo_installs_and_passes_its_own_tests(tmp_path, data_env):
    """The issue's "done when": the output of ``zoo new-plugin demo`` installs and its generated tests pass."""
    assert new_plugin("demo", "--dir", tmp_path).exit_code == 0
    package = tmp_path / "zoo-plugin-demo"
    venv = ThrowawayVenv(tmp_path / "venv")
    venv.install(package)

    tests = venv.pytest("-q", cwd=package)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "6 passed" in tests.stdout

    listed = venv.zoo("plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)
    assert {r["name"] for r in document["plugins"] if r["package"] == "zoo-plugin-demo"} == DEMO_NAMES
    assert [f for f in document["failures"] if f["package"] == "zoo-plugin-demo"] == []

    trained = venv.zoo("train", "demo-mlp", "--set", "train.steps=20", "--json")
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout)["name"] == "demo-mlp"
