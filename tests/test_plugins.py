"""Plugin loading: attribution, duplicate names, failing hooks and misspelt hook names."""

import pluggy
import pytest

import zoo
from zoo.errors import DuplicateNameError, UnknownNameError
from zoo.loading import build_catalog, load_plugins


class Relu2:
    """A fake third-party plugin that claims a name the built-ins already use."""

    @zoo.hookimpl
    def register_layers(self, register):
        register("relu", object)
        register("relu2", object)


class Broken:
    @zoo.hookimpl
    def register_optimizers(self, register):
        raise RuntimeError("boom")


class Misspelt:
    @zoo.hookimpl
    def register_layer(self, register):  # no such hook: must fail loudly, not be ignored
        pass


def test_every_name_is_stamped_with_its_plugin_and_package(catalog):
    record = catalog.get("layer", "dense")
    assert record.plugin == "zoo_builtins.layers" and record.package == "numpy-zoo"


def test_a_name_claimed_twice_is_an_error_naming_both_plugins():
    catalog = build_catalog(load_plugins([Relu2()]))
    with pytest.raises(DuplicateNameError) as caught:
        catalog.get("layer", "relu", "x.toml: layers.1.type")
    message = str(caught.value)
    assert message.startswith("x.toml: layers.1.type: layer 'relu' is registered by both plugin 'zoo_builtins.layers'")
    assert "numpy-zoo" in message and "Relu2" in message
    assert catalog.get("layer", "relu2").factory is object  # the plugin's other names still work
    assert any("registered by both" in f.reason for f in catalog.failures)


def test_a_hook_that_raises_is_reported_and_others_keep_working():
    catalog = build_catalog(load_plugins([Broken()]))
    assert any("register_optimizers raised RuntimeError: boom" == f.reason for f in catalog.failures)
    assert catalog.get("optimizer", "sgd") and catalog.get("layer", "dense")


def test_a_misspelt_hook_name_fails_loudly():
    with pytest.raises(pluggy.PluginValidationError, match="register_layer"):
        load_plugins([Misspelt()], entry_points=False)


def test_unknown_names_suggest_the_closest(catalog):
    with pytest.raises(UnknownNameError) as caught:
        catalog.get("initialiser", "glorot_unifrom", "e.toml: layers.0.weight_init.type")
    error = caught.value
    assert error.suggestions == ["glorot_uniform"]
    assert str(error).startswith(
        "e.toml: layers.0.weight_init.type: unknown initialiser 'glorot_unifrom'; did you mean 'glorot_uniform'?"
    )
    assert isinstance(error, LookupError) and "available: constant, glorot_normal" in str(error)


def test_without_entry_points_only_the_given_plugins_register():
    catalog = build_catalog(load_plugins([Relu2()], entry_points=False))
    assert catalog.names("layer") == ["relu", "relu2"] and catalog.names("optimizer") == []


def test_an_installed_plugin_with_a_misspelt_hook_is_reported_not_fatal(monkeypatch):
    import importlib.metadata
    import sys
    import types

    module = types.ModuleType("fake_zoo_plugin")
    module.register_layer = Misspelt.register_layer.__get__(Misspelt())
    monkeypatch.setitem(sys.modules, "fake_zoo_plugin", module)
    fake = importlib.metadata.EntryPoint("fake", "fake_zoo_plugin", "zoo")
    real = importlib.metadata.entry_points

    def entry_points(group):
        return [*real(group=group), fake] if group == "zoo" else real(group=group)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    catalog = build_catalog(load_plugins())
    assert any(f.plugin == "fake_zoo_plugin" and "unknown hook" in f.reason for f in catalog.failures)
    assert catalog.get("layer", "dense")
