"""What a new plugin author sees when loading goes wrong (issue 15, items 1-4 and 12).

Suggestions find prefixed names (``gelu`` -> ``acme-gelu``) and misspelt hooks, plugins from
``--plugin FILE`` are shown as not installed instead of ``(None)``, a name registered twice by
one plugin says so, a factory that cannot be called is refused when it registers, and a name
missing because its plugin is disabled says that the plugin is disabled. Most tests write a
real plugin file and run the real CLI on it, where the author meets these messages.
"""

import json
import sys
import textwrap

import pluggy
import pytest
from typer.testing import CliRunner

import zoo
from zoo.cli import app
from zoo.errors import DuplicateNameError, PluginError, close_matches
from zoo.loading import build_catalog, default_catalog, load_plugins

runner = CliRunner()
ENTRY = "tuned-784-512-10-dropout"  # dense, relu, dropout, dense; sgd: every name used below is not built in
AUGMENTED = "tuned-784-100-200-200-10-dropout-augment"  # uses the built-in augmenter 'affine'

ACME = """
import zoo

class Halve:
    def build(self, in_features, dtype, rng):
        return in_features

class Nadam:
    def setup(self, params):
        pass

@zoo.hookimpl
def register_layers(register):
    register("acme-gelu", Halve)

@zoo.hookimpl
def register_optimizers(register):
    register("acme-nadam", Nadam)
"""
MISSPELT_HOOKS = """
import zoo

@zoo.hookimpl
def register_layer(register):
    pass

@zoo.hookimpl
def register_optimisers(register):
    pass
"""
REGISTERS_TWICE = """
import zoo

class Halve:
    pass

@zoo.hookimpl
def register_layers(register):
    register("acme-halve", Halve)
    register("acme-halve", Halve)
"""
REGISTERS_AN_INSTANCE = """
import zoo

class Halve:
    pass

@zoo.hookimpl
def register_layers(register):
    register("acme-halve", Halve())  # the class was meant
    register("acme-double", Halve)
"""


@pytest.fixture(autouse=True)
def fresh_catalog(monkeypatch, data_env, tmp_path):
    """Each test runs in its own directory and environment; the catalog is rebuilt before and after."""
    for name in ("ZOO_PLUGINS", "ZOO_DISABLE_PLUGINS", "ZOO_REGISTRY_PATH"):
        monkeypatch.setenv(name, "")  # recorded, so whatever a test (or --plugin) sets is undone
    monkeypatch.setattr("sys.path", list(sys.path))  # undo the current directory a plugin adds
    monkeypatch.chdir(tmp_path)
    default_catalog.cache_clear()
    yield
    default_catalog.cache_clear()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def plugin_file(name, source):
    """``./name.py`` in the current directory, as an author would pass it to ``--plugin``."""
    with open(f"{name}.py", "w") as file:
        file.write(textwrap.dedent(source))
    return f"./{name}.py"


def error_line(result):
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr or result
    return lines[0]


# 1. Suggestions that ignore package prefixes


def test_a_name_without_its_package_prefix_suggests_the_prefixed_name_first():
    assert close_matches("gelu", ["relu", "acme-gelu"]) == ["acme-gelu"]
    assert close_matches("gelu", ["gelu2", "relu", "acme-gelu"])[0] == "acme-gelu"
    assert close_matches("nadam", ["adam", "sgd", "acme-nadam"]) == ["acme-nadam"]
    assert close_matches("scaled-tanh", ["tanh", "my-layers-scaled-tanh"])[0] == "my-layers-scaled-tanh"


def test_a_name_with_a_prefix_it_does_not_have_suggests_the_name_without_it():
    assert close_matches("acme-relu", ["relu", "tanh", "sigmoid"]) == ["relu"]
    assert close_matches("mine-gelu", ["acme-gelu", "relu"]) == ["acme-gelu"]


def test_typos_without_prefixes_are_suggested_as_before():
    assert close_matches("glorot_unifrom", ["glorot_normal", "glorot_uniform", "he_uniform"]) == ["glorot_uniform"]
    assert close_matches("rleu", ["relu", "tanh"]) == ["relu"]
    assert close_matches("xyz", ["relu", "acme-gelu"]) == []


@pytest.mark.parametrize(
    "override, expected",
    [
        ("layers.1.type=gelu", "layers.1.type: unknown layer 'gelu'; did you mean 'acme-gelu'?"),
        ("optimizer.type=nadam", "optimizer.type: unknown optimizer 'nadam'; did you mean 'acme-nadam'?"),
    ],
    ids=["layer", "optimizer"],
)
def test_the_cli_suggests_a_plugins_prefixed_name(override, expected):
    line = error_line(run("--plugin", plugin_file("acme", ACME), "show", ENTRY, "--set", override))
    assert expected in line


# 2. Misspelt hook names, and the package of a plugin from --plugin FILE


def test_a_misspelt_hook_in_a_plugin_file_is_listed_with_the_closest_hook_and_not_as_package_none():
    path = plugin_file("misspelt", MISSPELT_HOOKS)
    result = run("--plugin", path, "plugins")
    assert result.exit_code == 0
    assert (
        f"failed: {path} (not installed): implements an unknown hook 'register_layer'; "
        "did you mean 'register_layers'?; implements an unknown hook 'register_optimisers'; "
        "did you mean 'register_optimizers'?"
    ) in result.stderr.splitlines()
    assert "None" not in result.stderr


def test_a_disabled_plugin_file_is_listed_as_not_installed_not_as_package_none(monkeypatch):
    path = plugin_file("acme", ACME)
    monkeypatch.setenv("ZOO_DISABLE_PLUGINS", path)
    result = run("--plugin", path, "plugins")
    assert result.exit_code == 0
    assert f"disabled: {path} (not installed) by $ZOO_DISABLE_PLUGINS" in result.stderr.splitlines()
    assert "None" not in result.stderr


class Misspelt:
    @zoo.hookimpl
    def register_layer(self, register):
        pass


def test_a_misspelt_hook_of_a_plugin_given_in_code_raises_with_the_closest_hook():
    with pytest.raises(pluggy.PluginValidationError, match="'register_layer'; did you mean 'register_layers'"):
        load_plugins([Misspelt()], entry_points=False)


def test_a_hook_like_no_other_lists_zoos_hooks():
    path = plugin_file("odd", "import zoo\n\n@zoo.hookimpl\ndef make_things(register):\n    pass\n")
    (failure,) = load_plugins(modules=[path], entry_points=False).failures
    assert failure.reason.startswith("implements an unknown hook 'make_things' (zoo's hooks: register_layers, ")


# 3. A name registered twice by the same plugin


class Twice:
    @zoo.hookimpl
    def register_layers(self, register):
        register("acme-twice", object)
        register("acme-twice", object)
        register("acme-once", object)


def test_a_name_registered_twice_by_one_plugin_says_twice_not_both():
    catalog = build_catalog(load_plugins([Twice()], entry_points=False))
    with pytest.raises(DuplicateNameError) as caught:
        catalog.get("layer", "acme-twice", "x.toml: layers.1.type")
    assert str(caught.value) == (
        f"x.toml: layers.1.type: layer 'acme-twice' is registered twice by plugin '{__name__}.Twice'"
    )
    assert catalog.get("layer", "acme-once").factory is object


def test_the_cli_says_a_name_is_registered_twice_by_one_plugin():
    path = plugin_file("twice", REGISTERS_TWICE)
    reasons = [f["reason"] for f in json.loads(run("--plugin", path, "plugins", "--json").stdout)["failures"]]
    assert reasons == [f"layer 'acme-halve' is registered twice by plugin '{path}'"]
    line = error_line(run("--plugin", path, "show", ENTRY, "--set", "layers.1.type=acme-halve"))
    assert line.endswith(f"layers.1.type: layer 'acme-halve' is registered twice by plugin '{path}'")


# 4. A factory that is not callable


class Instances:
    @zoo.hookimpl
    def register_layers(self, register):
        register("acme-halve", Twice())

    @zoo.hookimpl
    def register_models(self, register):
        register("acme-entry", {"description": "a table where a function returning (table, source) belongs"})


def test_a_factory_that_is_not_callable_is_refused_as_a_failure_of_its_plugin():
    catalog = build_catalog(load_plugins([Instances()], entry_points=False))
    assert catalog.names("layer") == [] and catalog.names("model") == []
    assert [f.reason for f in catalog.failures] == [
        "layer 'acme-halve' is refused: its factory, of type Twice, is not callable "
        "(register a class or a function, not an instance)",
        "model 'acme-entry' is refused: its factory, of type dict, is not callable "
        "(register a class or a function, not an instance)",
    ]
    with pytest.raises(PluginError, match=f"^model 'acme-entry' from plugin '{__name__}.Instances' is refused"):
        catalog.get("model", "acme-entry")


def test_the_cli_refuses_a_factory_that_is_not_callable_and_keeps_working():
    path = plugin_file("instance", REGISTERS_AN_INSTANCE)
    listed = run("--plugin", path, "plugins")
    assert listed.exit_code == 0 and "acme-double" in listed.stdout and "acme-halve" not in listed.stdout
    assert (
        f"failed: {path} (not installed): layer 'acme-halve' is refused: its factory, of type Halve, "
        "is not callable (register a class or a function, not an instance)"
    ) in listed.stderr.splitlines()
    line = error_line(run("--plugin", path, "show", ENTRY, "--set", "layers.1.type=acme-halve"))
    assert line.endswith(
        f"layers.1.type: layer 'acme-halve' from plugin '{path}' is refused: its factory, of type Halve, "
        "is not callable (register a class or a function, not an instance)"
    )
    assert run("--plugin", path, "list").exit_code == 0
    assert run("--plugin", path, "show", ENTRY).exit_code == 0


# 12. A name missing because its plugin is disabled


def test_a_name_missing_because_its_builtin_plugin_is_disabled_says_so(monkeypatch):
    monkeypatch.setenv("ZOO_DISABLE_PLUGINS", "zoo_builtins.augmenters")
    line = error_line(run("show", AUGMENTED))
    assert line.endswith(
        "augment.0.type: unknown augmenter 'affine'; "
        "plugin 'zoo_builtins.augmenters' (package numpy-zoo) is disabled by $ZOO_DISABLE_PLUGINS"
    )


def test_a_name_missing_because_its_plugin_file_is_disabled_says_so(monkeypatch):
    path = plugin_file("acme", ACME)
    monkeypatch.setenv("ZOO_DISABLE_PLUGINS", path)
    line = error_line(run("--plugin", path, "show", ENTRY, "--set", "layers.1.type=acme-gelu"))
    assert "unknown layer 'acme-gelu'" in line
    assert line.endswith(f"; plugin '{path}' is disabled by $ZOO_DISABLE_PLUGINS")


def test_several_disabled_plugins_are_named_once_by_package(monkeypatch):
    path = plugin_file("acme", ACME)
    monkeypatch.setenv("ZOO_DISABLE_PLUGINS", f"zoo_builtins.augmenters,zoo_builtins.pooling,{path}")
    line = error_line(run("--plugin", path, "show", AUGMENTED))
    assert line.endswith(
        "; plugins 'zoo_builtins.augmenters' and 'zoo_builtins.pooling' (package numpy-zoo) "
        f"and plugin '{path}' are disabled by $ZOO_DISABLE_PLUGINS"
    )
