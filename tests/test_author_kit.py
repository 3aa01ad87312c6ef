"""What a new plugin author meets (issue 15): a kit that reports every failure at once and says what it skipped,
``catalog_with`` seeing what zoo's commands see, docs and scaffold that agree and need no source of zoo's, and a
report that says which dataset each run is on."""

import ast
import importlib
import json
import os
import re
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import attrs
import numpy as np
import pytest

import zoo
import zoo.testing
from zoo import report, scaffold
from zoo.data import DatasetNotFound
from zoo.datasets import dataset_info, load_dataset
from zoo.loading import DISABLE_ENV, PLUGINS_ENV, REGISTRY_PATH_ENV, default_catalog
from zoo.testing import ConformanceError

ROOT = Path(__file__).resolve().parents[1]
"""The repository these tests belong to: its docs and examples, whether zoo is installed from it editable or not."""
GUIDE = ROOT / "docs" / "plugins.md"
EXAMPLE = ROOT / "examples" / "zoo-plugin-example"

# =============================================================================================
# item 9: check_package checks every name and reports every failure, and what it did not check


class Halve:
    """``y = x / 2`` on samples of any shape: a correct layer without parameters."""

    zoo_contract = 2

    def build(self, in_shape, dtype, rng):
        return tuple(in_shape)

    def params(self):
        return []

    def forward(self, x, training):
        return x * x.dtype.type(0.5)

    def backward(self, dy, need_dx=True):
        return dy * dy.dtype.type(0.5) if need_dx else None


class ForgetsTheHalf(Halve):
    def backward(self, dy, need_dx=True):
        return dy if need_dx else None


class ImagesOnly(Halve):
    def build(self, in_shape, dtype, rng):
        if len(in_shape) != 3:
            raise ValueError(f"images_only needs samples (C, H, W), got {in_shape}")
        return tuple(in_shape)


@attrs.frozen
class Normal:
    std: float = 0.05

    def __call__(self, shape, fan_in, fan_out, rng, dtype):
        return rng.normal(0.0, self.std, shape).astype(dtype)


@attrs.frozen
class OffByOne:
    """Batches of one sample, in order, but for a bug that reads one past the end."""

    def steps_per_epoch(self, n):
        return n

    def iterate(self, n, rng):
        order = list(range(n))
        while True:
            yield np.array([order[n]])  # the bug


class Mixed:
    """A package's worth of names: one correct, three broken in different ways, and one the tests skip."""

    @zoo.hookimpl
    def register_layers(self, register):
        register("halve", Halve)
        register("forgets_the_half", ForgetsTheHalf)
        register("images_only", ImagesOnly)
        register("not_ready", ForgetsTheHalf)

    @zoo.hookimpl
    def register_initialisers(self, register):
        register("tiny_normal", Normal)

    @zoo.hookimpl
    def register_batches(self, register):
        register("off_by_one", OffByOne)


class Good:
    @zoo.hookimpl
    def register_layers(self, register):
        register("halve", Halve)
        register("not_ready", ForgetsTheHalf)


class HalfBroken:
    @zoo.hookimpl
    def register_layers(self, register):
        register("halve", Halve)

    @zoo.hookimpl
    def register_optimizers(self, register):
        raise RuntimeError("boom")


MIXED, GOOD, HALF_BROKEN = (f"{__name__}.{plugin}" for plugin in ("Mixed", "Good", "HalfBroken"))


def test_check_package_checks_every_name_and_reports_every_failure_at_once():
    catalog = zoo.testing.catalog_with(Mixed())
    with pytest.raises(ConformanceError) as caught:
        zoo.testing.check_package(
            MIXED, catalog=catalog, options={"tiny_normal": {"options": {}, "std": 1.0}}, skip=["layer:not_ready"]
        )
    error = caught.value
    lines = str(error).splitlines()
    assert lines[0] == f"package '{MIXED}' fails zoo's conformance kit (4 failures, 1 passed, 1 not checked):"
    assert re.fullmatch(r"- layer 'forgets_the_half' \(plugin .*\) fails the gradient check.*", lines[1])
    assert re.fullmatch(
        r"- layer 'images_only' \(plugin .*in_shape \(5,\)\) fails the build check: .*\(C, H, W\).*", lines[2]
    )
    assert re.fullmatch(r"- initialiser 'tiny_normal' \(plugin .*\) fails the std check.*", lines[3])
    assert lines[4].startswith(
        "- batches 'off_by_one' raised IndexError: list index out of range (at test_author_kit.py:"
    )
    assert lines[4].endswith(", in iterate)")
    assert lines[5] == "not checked (in skip): layer 'not_ready'" and len(lines) == 6
    assert [(kind, name) for kind, name, _ in error.failures] == [
        ("layer", "forgets_the_half"),
        ("layer", "images_only"),
        ("initialiser", "tiny_normal"),
        ("batches", "off_by_one"),
    ]
    assert error.checked == [("layer", "halve")] and error.unchecked == [("layer", "not_ready")]
    assert isinstance(error.__cause__, IndexError)  # pytest shows the plugin's own traceback too


def test_a_pass_with_names_skipped_warns_naming_them():
    with pytest.warns(zoo.testing.NotChecked, match=rf"check_package\('{GOOD}'\) did not check layer 'not_ready'"):
        checked = zoo.testing.check_package(GOOD, catalog=zoo.testing.catalog_with(Good()), skip=["not_ready"])
    assert checked == [("layer", "halve")] and checked.unchecked == [("layer", "not_ready")]


def test_options_and_skip_naming_nothing_the_package_registered_fail_with_the_closest_names():
    catalog = zoo.testing.catalog_with(Good())
    with pytest.raises(ConformanceError) as caught:
        zoo.testing.check_package(GOOD, catalog=catalog, options={"halv": {}}, skip=["layer:not_redy"])
    lines = str(caught.value).splitlines()
    assert lines[1:3] == [
        "- options: 'halv' is no name this package registered; did you mean 'halve'?",
        "- skip: 'layer:not_redy' is no name this package registered; did you mean 'layer:not_ready'?",
    ]
    assert lines[3].startswith("- layer 'not_ready' (") and "fails the gradient check" in lines[3] and len(lines) == 4


def test_a_plugin_that_failed_to_load_is_reported_with_the_names_that_did_register_checked():
    with pytest.raises(ConformanceError) as caught:
        zoo.testing.check_package(HALF_BROKEN, catalog=zoo.testing.catalog_with(HalfBroken()))
    assert str(caught.value).splitlines()[1:] == [
        f"- plugin '{HALF_BROKEN}': register_optimizers raised RuntimeError: boom"
    ]
    assert caught.value.checked == [("layer", "halve")]


KIT_USER_TESTS = """
import zoo
import zoo.testing
from test_author_kit import Halve, ForgetsTheHalf, ImagesOnly


class Plugin:
    @zoo.hookimpl
    def register_layers(self, register):
        register("halve", Halve)
        register("forgets_the_half", ForgetsTheHalf)
        register("images_only", ImagesOnly)


CATALOG = zoo.testing.catalog_with(Plugin())


def test_every_name():
    zoo.testing.check_package("test_mine.Plugin", catalog=CATALOG)


def test_the_names_that_work():
    zoo.testing.check_package("test_mine.Plugin", catalog=CATALOG, skip=["forgets_the_half", "images_only"])
"""


def test_an_author_running_pytest_sees_every_failure_and_every_name_not_checked(tmp_path):
    (tmp_path / "test_mine.py").write_text(KIT_USER_TESTS)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "test_mine.py"]
    env = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}  # this module, and the zoo under test
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 passed" in result.stdout, result.stdout
    assert "- layer 'forgets_the_half' (plugin 'test_mine.Plugin', not installed" in result.stdout
    assert "- layer 'images_only' (plugin 'test_mine.Plugin', not installed" in result.stdout
    assert (
        "NotChecked: check_package('test_mine.Plugin') did not check layer 'forgets_the_half', layer " in result.stdout
    )


# =============================================================================================
# item 10: catalog_with sees what zoo's commands see


def catalog_rows(catalog):
    return [(r.kind, r.name, r.plugin, r.package) for r in catalog.records()]


def test_catalog_with_agrees_with_the_default_catalog_under_zoos_environment_variables(tmp_path, monkeypatch):
    (tmp_path / "my-entry.toml").write_text('description = "an entry of my own"\n')
    (tmp_path / "more_layers.py").write_text(
        "import zoo\n\n\n@zoo.hookimpl\ndef register_layers(register):\n    register('more-halve', object)\n"
    )
    monkeypatch.setenv(REGISTRY_PATH_ENV, str(tmp_path))
    monkeypatch.setenv(PLUGINS_ENV, str(tmp_path / "more_layers.py"))
    monkeypatch.setenv(DISABLE_ENV, "zoo_builtins.augmenters")
    commands_see = default_catalog.__wrapped__()  # built afresh from the environment, as in a new process
    catalog = zoo.testing.catalog_with()
    assert catalog_rows(catalog) == catalog_rows(commands_see)
    assert catalog.get("model", "my-entry").plugin == f"{REGISTRY_PATH_ENV}:{tmp_path}"
    assert "more-halve" in catalog.names("layer") and "affine" not in catalog.names("augmenter")
    assert catalog.disabled == commands_see.disabled


def test_catalog_with_adds_its_plugins_to_what_the_environment_gives(tmp_path, monkeypatch):
    (tmp_path / "my-entry.toml").write_text('description = "an entry of my own"\n')
    monkeypatch.setenv(REGISTRY_PATH_ENV, str(tmp_path))
    monkeypatch.setenv(DISABLE_ENV, GOOD)  # given explicitly, a plugin is added all the same
    catalog = zoo.testing.catalog_with(Good())
    assert catalog.get("layer", "halve").plugin == GOOD
    assert "my-entry" in catalog.names("model") and not catalog.failures


# =============================================================================================
# item 11: the guide and the scaffold agree, and neither sends authors into zoo's source


def guide_toml(containing: str) -> dict:
    """The first TOML block of the guide containing ``containing``, parsed."""
    blocks = re.findall(r"```toml\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    return tomllib.loads(next(block for block in blocks if containing in block))


def test_the_guide_the_example_and_the_scaffold_put_entry_files_in_registry(tmp_path, monkeypatch):
    (guide_patterns,) = guide_toml("[tool.setuptools.package-data]")["tool"]["setuptools"]["package-data"].values()
    example = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    target = scaffold.new_plugin("demo", tmp_path)
    generated = tomllib.loads((target / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert guide_patterns == ["registry/*.toml"]
    assert example == {"zoo_plugin_example": guide_patterns} and generated == {"zoo_plugin_demo": guide_patterns}
    assert [p.name for p in (target / "src" / "zoo_plugin_demo" / "registry").iterdir()] == ["demo-mlp.toml"]
    monkeypatch.syspath_prepend(str(target / "src"))
    try:
        models = importlib.import_module("zoo_plugin_demo.models")
        table, source = zoo.testing.catalog_with(models).get("model", "demo-mlp").factory()
    finally:
        for name in [n for n in sys.modules if n.startswith("zoo_plugin_demo")]:
            del sys.modules[name]
    assert source == "zoo_plugin_demo/registry/demo-mlp.toml" and table["tags"] == ["demo", "example"]


def test_the_generated_tests_use_only_names_the_guide_documents(tmp_path):
    target = scaffold.new_plugin("demo", tmp_path)
    tree = ast.parse((target / "tests" / "test_demo.py").read_text())
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module.split(".")[0] == "zoo":
            used |= {(node.module, alias.name) for alias in node.names}
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "catalog":
            used.add(("catalog", node.attr))
    guide = GUIDE.read_text(encoding="utf-8")
    assert {("zoo.loading", "default_catalog"), ("catalog", "failures"), ("catalog", "records")} <= used

    def documented(owner, name):
        return f"`{owner}.{name}" in guide or (owner == "zoo.testing" and f"| `{name}(" in guide)

    assert sorted(f"{owner}.{name}" for owner, name in used if not documented(owner, name)) == []


ZOO_SOURCE_FILE = re.compile(r"(?<![\w/.-])(?:zoo|plugins)/[\w/]+\.py\b")
"""A path to a file of zoo's source tree, which an author who installed zoo from a wheel does not have."""


def test_neither_the_guide_nor_the_scaffold_points_into_zoos_source(tmp_path):
    target = scaffold.new_plugin("demo", tmp_path)
    texts = {"docs/plugins.md": GUIDE.read_text(encoding="utf-8")}
    texts |= {str(p.relative_to(target)): p.read_text() for p in target.rglob("*") if p.is_file()}
    assert {name: ZOO_SOURCE_FILE.findall(text) for name, text in texts.items() if ZOO_SOURCE_FILE.search(text)} == {}


def test_the_scaffold_readme_shows_a_dataset_plugin_zoo_accepts(tmp_path):
    readme = (scaffold.new_plugin("demo", tmp_path) / "README.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", readme, re.S)
    module = types.ModuleType("demo_datasets")
    exec(code, module.__dict__)
    catalog = zoo.testing.catalog_with(module)
    info = dataset_info(catalog, "demo-my-data")
    assert info.shape == (1, 28, 28) and len(info.classes) == 10
    with pytest.raises(DatasetNotFound, match=f"demo-my-data: no {tmp_path / 'my-data.npz'}; put my-data.npz there"):
        load_dataset(catalog, "demo-my-data", tmp_path)
    rng = np.random.default_rng(0)
    images = {part: rng.integers(0, 256, (10, 28, 28), dtype=np.uint8) for part in ("x_train", "x_test")}
    np.savez(tmp_path / "my-data.npz", **images, y_train=np.arange(10), y_test=np.arange(10))
    zoo.testing.check_dataset("demo-my-data", catalog=catalog, data_dir=tmp_path)


def test_the_guide_says_attrs_classes_are_slotted_and_quotes_the_error_an_undeclared_attribute_gives():
    guide = " ".join(GUIDE.read_text(encoding="utf-8").split())
    assert "attrs classes are slotted" in guide and "Every attribute a layer sets" in guide
    quoted = re.search(r"raises `AttributeError: (.*?)`", guide).group(1)

    @attrs.define(eq=False)
    class LeakyReLU:
        slope: float = 0.01

        def forward(self, x, training):
            self._x = x  # not declared

    with pytest.raises(AttributeError) as caught:
        LeakyReLU().forward(np.zeros(3), True)
    assert str(caught.value) == quoted


# =============================================================================================
# item 13: zoo report says which dataset each run is on


def write_run(root: Path, run_id: str, name: str, dataset: str, seed: int = 0) -> Path:
    """A completed run without test predictions, so no dataset has to be read."""
    path = root / run_id
    path.mkdir(parents=True)
    info = {
        "id": run_id,
        "name": name,
        "status": "completed",
        "error": None,
        "seed": seed,
        "overrides": [],
        "settings": {},
        "dataset": dataset,
        "classes": [str(d) for d in range(10)],
        "zoo_version": zoo.__version__,
        "metrics": {"test_accuracy": 0.9, "val_accuracy": 0.9, "train_seconds": 1.0, "params": 100},
    }
    (path / "run.json").write_text(json.dumps(info))
    log = [
        {"epoch": e, "loss": 1 / e, "train_accuracy": 0.9, "val_loss": 1.1 / e, "val_accuracy": 0.88} for e in (1, 2)
    ]
    (path / "metrics.jsonl").write_text("".join(json.dumps(point) + "\n" for point in log))
    return path


@pytest.fixture
def mixed_runs(tmp_path):
    return [
        report.RunData.load(write_run(tmp_path, "r1-lenet-5", "lenet-5", "mnist")),
        report.RunData.load(write_run(tmp_path, "r2-lenet-5", "lenet-5", "fashion-mnist")),
        report.RunData.load(write_run(tmp_path, "r3-tuned", "tuned-cnn", "mnist", seed=1)),
    ]


def test_the_report_table_shows_each_runs_dataset_and_the_page_says_they_differ(mixed_runs, tmp_path):
    out = tmp_path / "report"
    report.write_report([run.path for run in mixed_runs], out, default_catalog())
    page = (out / "index.html").read_text()
    assert "<th>name</th><th>dataset</th>" in page
    for run_id, dataset in (("r1-lenet-5", "mnist"), ("r2-lenet-5", "fashion-mnist"), ("r3-tuned", "mnist")):
        (row,) = [line for line in page.splitlines() if line.startswith("<tr>") and run_id in line]
        assert f"</a></td><td>{dataset}</td>" in row
    assert "These runs are on 2 datasets (fashion-mnist, mnist)" in page


def captured_curves(runs):
    """The learning-curves figure ``report.learning_curves`` draws for ``runs``."""
    drawn = []

    def figure(**options):
        drawn.append(report._figure_class()(**options))
        return drawn[-1]

    report.learning_curves(figure, runs, report.run_labels(runs))
    (figure,) = drawn
    legend = [text.get_text() for legend in figure.legends for text in legend.get_texts()]
    return legend, figure.get_suptitle()


def test_curves_of_runs_on_different_datasets_are_labelled_with_them(mixed_runs):
    legend, title = captured_curves(mixed_runs)
    assert legend == ["lenet-5 (mnist)", "lenet-5 (fashion-mnist)", "tuned-cnn (mnist)"]
    assert title == "Learning curves (3 runs on 2 datasets: fashion-mnist, mnist)"


def test_curves_of_runs_on_one_dataset_name_it_once(mixed_runs):
    same = [mixed_runs[0], mixed_runs[2]]
    assert report.run_labels(same) == ["lenet-5", "tuned-cnn"]
    assert captured_curves(same)[1] == "Learning curves (2 runs on mnist)"
