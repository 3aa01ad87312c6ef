"""The project's own set-up promises: CI runs the README's test command, and built-ins come through entry points."""

import importlib.metadata
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```sh\n(.*?)\n```", readme, re.S)
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()


def test_builtins_are_registered_through_the_zoo_entry_point_group():
    values = {ep.value for ep in importlib.metadata.entry_points(group="zoo")}
    assert {"zoo_builtins.layers", "zoo_builtins.models", "zoo_builtins.datasets"} <= values


def test_builtins_do_not_install_under_generic_names():
    top_level = importlib.metadata.distribution("numpy-zoo").read_text("top_level.txt").split()
    assert sorted(top_level) == ["zoo", "zoo_builtins"]


def test_every_package_in_the_tree_is_installed():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    source = {".".join(path.parent.relative_to(ROOT).parts) for path in (ROOT / "zoo").rglob("__init__.py")}
    assert source <= listed, f"add {sorted(source - listed)} to [tool.setuptools] packages"
