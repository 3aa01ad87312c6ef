"""What a plugin author's options look like to the people who use them (issue 15, items 5 to 8).

- 5: every validator failure, zoo's or attrs' own, is one line with the key path and what was expected;
  ``zoo.options`` has validators for booleans, choices, strings and arrays.
- 6: ``--set layers.0.weight_init.type=NAME`` works on an entry that wrote ``weight_init = "NAME"``.
- 7: a per-layer ``lr`` on a layer without parameters is a configuration error.
- 8: ``zoo show`` fills in default initialisers, by the name that makes them.

A fake plugin package, ``acme``, is written to a file and loaded with ``--plugin`` (the CLI) or
``catalog_with`` (the API), as an author would try a plugin before installing it.
"""

import importlib.util
import json
import re
import textwrap

import attrs
import numpy as np
import pytest
from typer.testing import CliRunner

import zoo.testing
from zoo.cli import app
from zoo.config import ModelEntry, apply_overrides, parse_toml, resolved
from zoo.entries import load_entry
from zoo.errors import ConfigError
from zoo.loading import default_catalog
from zoo.network import build_network
from zoo.options import boolean, choice, list_of, number, option_error, string

runner = CliRunner()

ACME = '''
"""A layer whose options use attrs' validators and zoo's, and whose initialisers have defaults of each kind."""
import attrs
import numpy as np
from attrs import validators as v
from zoo_builtins.initialisers import Uniform

import zoo
from zoo.layers import Param
from zoo.options import choice, list_of, number, string


def ones(shape, fan_in, fan_out, rng, dtype):
    return np.ones(shape, dtype)


def halves(shape, fan_in, fan_out, rng, dtype):  # a default that no registered name makes
    return np.full(shape, 0.5, dtype)


@attrs.define(eq=False)
class Scale:
    zoo_contract = 2
    decay_vectors: bool = attrs.field(default=False, validator=v.instance_of(bool))
    mode: str = attrs.field(default="fast", validator=v.in_(["fast", "slow"]))
    factor: float = attrs.field(default=1.0, validator=v.instance_of(float))
    amount: float = attrs.field(default=1, validator=v.instance_of((int, float)))
    tag: str = attrs.field(default="a", validator=v.matches_re(r"[a-z]+"))
    sizes: list = attrs.field(factory=list, validator=v.deep_iterable(v.instance_of(int)))
    flavour: str = attrs.field(default="plain", validator=choice("plain", "fancy"))
    label: str = attrs.field(default="", validator=string)
    widths: list = attrs.field(factory=list, validator=list_of(number(integer=True, gt=0), max_len=3))
    names: list = attrs.field(factory=list, validator=list_of(v.instance_of(str)))
    gain_init: object = attrs.field(default=ones, validator=v.is_callable())
    offset_init: object = attrs.field(default=halves, validator=v.is_callable())
    spread_init: object = attrs.field(factory=lambda: Uniform(-0.5, 0.5), validator=v.is_callable())
    _params: list = attrs.field(init=False, factory=list)

    def build(self, in_shape, dtype, rng):
        gain = self.gain_init(in_shape, 1, 1, rng, dtype)
        self._params = [Param("gain", gain, np.zeros_like(gain))]
        return tuple(in_shape)

    def params(self):
        return self._params

    def forward(self, x, training):
        return x * self._params[0].value

    def backward(self, dy, need_dx=True):
        return dy * self._params[0].value if need_dx else None


@zoo.hookimpl
def register_layers(register):
    register("acme-scale", Scale)


@zoo.hookimpl
def register_initialisers(register):
    register("acme-ones", lambda: ones)
'''

ENTRY = """
description = "an acme-scale layer before the classifier"
[[layers]]
type = "acme-scale"
[[layers]]
type = "dense"
units = 10
weight_init = "normal"
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


@pytest.fixture(autouse=True)
def fresh_catalog(monkeypatch):
    """``--plugin`` adds to ``ZOO_PLUGINS`` and the catalog is built once per process: undo both."""
    monkeypatch.setenv("ZOO_PLUGINS", "")
    default_catalog.cache_clear()
    yield
    default_catalog.cache_clear()


@pytest.fixture
def acme(tmp_path):
    """The plugin file and the entry file, side by side."""
    (tmp_path / "acme.py").write_text(textwrap.dedent(ACME), encoding="utf-8")
    (tmp_path / "acme-entry.toml").write_text(ENTRY, encoding="utf-8")
    return tmp_path


@pytest.fixture
def acme_catalog(acme):
    spec = importlib.util.spec_from_file_location("acme", acme / "acme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return zoo.testing.catalog_with(module)


def zoo_command(*args):
    return runner.invoke(app, [str(a) for a in args])


def error_line(result) -> str:
    """The one ``error:`` line of a failed command, which printed nothing else (no traceback)."""
    lines = result.stderr.splitlines()
    assert result.exit_code == 1 and result.stdout == "", (result.exit_code, result.stdout, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def shown(*args, plugin=None) -> dict:
    """The document of ``zoo [--plugin PLUGIN] show ARGS --json``."""
    result = zoo_command(*(["--plugin", plugin] if plugin else []), "show", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# Item 5: validators


VALIDATOR_FAILURES = {
    "attrs instance_of(bool)": ("decay_vectors = 1", "'decay_vectors' must be true or false, got 1"),
    "attrs in_": ('mode = "fats"', "'mode' must be one of 'fast', 'slow', got 'fats'; did you mean 'fast'?"),
    "attrs instance_of(float)": ("factor = 2", "'factor' must be a number with a decimal point, such as 1.0, got 2"),
    "attrs instance_of((int, float))": ('amount = "lots"', "'amount' must be a number, got 'lots'"),
    "attrs matches_re": ('tag = "A1"', "'tag' must be a string matching '[a-z]+', got 'A1'"),
    "attrs deep_iterable": ('sizes = [1, "x"]', "'sizes' must be an integer, got 'x'"),
    "zoo choice": (
        'flavour = "fancey"',
        "'flavour' must be one of 'plain', 'fancy', got 'fancey'; did you mean 'fancy'?",
    ),
    "zoo string": ("label = 3", "'label' must be a string, got 3"),
    "zoo list_of, an item": ("widths = [1, 0]", "'widths.1' must be an integer > 0, got 0"),
    "zoo list_of, too long": (
        "widths = [1, 2, 3, 4]",
        "'widths' must be an array of at most 3 items, got [1, 2, 3, 4]",
    ),
    "zoo list_of, not an array": ("widths = 3", "'widths' must be an array of at most 3 items, got 3"),
    "zoo list_of of attrs instance_of": ('names = ["a", 2]', "'names.1' must be a string, got 2"),
}


@pytest.mark.parametrize("option, expected", VALIDATOR_FAILURES.values(), ids=VALIDATOR_FAILURES.keys())
def test_a_validator_failure_is_one_line_with_key_path_and_expectation(acme_catalog, option, expected):
    text = ENTRY.replace('type = "acme-scale"', f'type = "acme-scale"\n{option}')
    with pytest.raises(ConfigError) as caught:
        ModelEntry.from_toml("t", text, "acme-entry.toml", acme_catalog)
    assert str(caught.value) == f"acme-entry.toml: layers.0: {expected}"


def test_an_attrs_validator_failure_through_the_cli_is_one_error_line(acme):
    result = zoo_command(
        "--plugin", acme / "acme.py", "show", acme / "acme-entry.toml", "--set", "layers.0.decay_vectors=1"
    )
    source = f"{acme / 'acme-entry.toml'} (with --set)"
    assert error_line(result) == f"error: {source}: layers.0: 'decay_vectors' must be true or false, got 1"


def test_any_error_raised_with_several_arguments_gives_its_message():
    """attrs' is_callable, not_ and validators of other libraries pass more than the message along."""
    assert option_error(TypeError("'x' must be fine (got 3)", object(), 3)) == "'x' must be fine (got 3)"
    assert option_error(ValueError("two\nlines", 1)) == "two lines"
    assert option_error(ValueError("just the message")) == "just the message"
    decoding = UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")  # keeps its own text
    assert option_error(decoding) == str(decoding)


@attrs.define
class Options:
    """Each of zoo's validators on one option, to check what they let through."""

    switch: bool = attrs.field(default=False, validator=boolean)
    pick: object = attrs.field(default="a", validator=choice("a", "b", 3))
    text: str = attrs.field(default="", validator=string)
    pair: list = attrs.field(default=(1, 2), validator=list_of(number(), min_len=2, max_len=2))
    some: list = attrs.field(factory=list, validator=list_of())


@pytest.mark.parametrize(
    "options",
    [{"switch": True}, {"pick": "b"}, {"pick": 3}, {"text": "x"}, {"pair": [0.5, 1]}, {"some": ["x", 1]}],
)
def test_zoo_validators_accept_what_they_promise(options):
    Options(**options)


@pytest.mark.parametrize(
    "options, expected",
    [
        ({"switch": 1}, "'switch' must be true or false, got 1"),
        ({"pick": True}, "'pick' must be one of 'a', 'b', 3, got True"),  # a bool is not the integer 3
        ({"pick": 3.0}, "'pick' must be one of 'a', 'b', 3, got 3.0"),
        ({"pair": [1]}, r"'pair' must be an array of exactly 2 items, got \[1\]"),
        ({"pair": "ab"}, "'pair' must be an array of exactly 2 items, got 'ab'"),
        ({"pair": [1, True]}, "'pair.1' must be a finite number, got True"),
        ({"some": {"a": 1}}, "'some' must be an array, got"),
    ],
)
def test_zoo_validators_refuse_with_what_they_expected(options, expected):
    with pytest.raises(ValueError, match=expected):
        Options(**options)


# Item 6: --set into an initialiser written as a bare name


def test_set_type_of_an_initialiser_written_as_a_name(catalog):
    """tuned-784-512-10-dropout writes ``weight_init = "he_normal"``, which zoo show displays as a table."""
    config = shown("tuned-784-512-10-dropout", "--set", "layers.0.weight_init.type=he_uniform")["config"]
    assert config["layers"][0]["weight_init"] == {"type": "he_uniform"}
    entry = load_entry("tuned-784-512-10-dropout", catalog, ["layers.0.weight_init.type=normal"])
    assert entry.layers[0].ref.options["weight_init"].type == "normal"


def test_set_an_option_of_an_initialiser_written_as_a_name(acme):
    """The entry's dense layer writes ``weight_init = "normal"``: ``.std`` is that initialiser's option."""
    config = shown(acme / "acme-entry.toml", "--set", "layers.1.weight_init.std=0.2", plugin=acme / "acme.py")["config"]
    assert config["layers"][1]["weight_init"] == {"type": "normal", "std": 0.2, "mean": 0.0}


def test_the_name_shorthand_becomes_a_table_only_for_initialisers():
    table = parse_toml('[[layers]]\ntype = "conv2d"\npadding = "same"\nweight_init = "he_normal"', "t.toml")
    changed = apply_overrides(table, ["layers.0.weight_init.type=normal", "layers.0.weight_init.std=0.1"])
    assert changed["layers"][0]["weight_init"] == {"type": "normal", "std": 0.1}
    assert table["layers"][0]["weight_init"] == "he_normal"  # the entry itself is untouched
    with pytest.raises(ConfigError, match=r"layers\.0\.padding is a value, not a table"):
        apply_overrides(table, ["layers.0.padding.type=valid"])


# Item 7: a per-layer lr on a layer without parameters


@pytest.mark.parametrize("layer, name", [(1, "relu"), (2, "dropout")])
def test_a_layer_lr_on_a_layer_without_parameters_is_refused(layer, name):
    result = zoo_command("show", "tuned-784-512-10-dropout", "--set", f"layers.{layer}.lr=0.01")
    assert error_line(result) == (
        f"error: registry/tuned-784-512-10-dropout.toml (with --set): layers.{layer}.lr: "
        f"layer {name!r} has no parameters, so it takes no learning rate"
    )


def test_a_layer_lr_on_a_layer_with_parameters_is_shown_and_used(catalog):
    assert shown("tuned-784-512-10-dropout", "--set", "layers.0.lr=0.01")["layers"][0]["lr"] == 0.01
    entry = load_entry("tuned-784-512-10-dropout", catalog, ["layers.0.lr=0.01"])
    network = build_network(entry, catalog, (1, 28, 28), 10, np.random.SeedSequence(0))
    assert [p.lr for p in network.params] == [0.01, 0.01, None, None]


def test_a_layer_lr_on_a_contract_1_layer_without_parameters_is_refused(catalog):
    """Contract-1 layers run wrapped in FlatLayer; its params() are the layer's own."""

    @attrs.define
    class Halve:
        def build(self, in_features, dtype, rng):
            return in_features

        def params(self):
            return []

    class Plugin:
        @zoo.hookimpl
        def register_layers(self, register):
            register("halve", Halve)

    text = ENTRY.replace('type = "acme-scale"', 'type = "halve"\nlr = 0.5')
    with_halve = zoo.testing.catalog_with(Plugin())
    entry = ModelEntry.from_toml("t", text, "t.toml", with_halve)
    with pytest.raises(ConfigError, match=r"^t\.toml: layers\.0\.lr: layer 'halve' has no parameters"):
        build_network(entry, with_halve, (1, 28, 28), 10, np.random.SeedSequence(0))


# Item 8: zoo show fills in default initialisers


def test_show_fills_in_the_built_in_default_initialisers():
    layers = shown("tuned-784-512-10-dropout")["config"]["layers"]
    assert layers[0] == {
        "type": "dense",
        "units": 512,
        "weight_init": {"type": "he_normal"},
        "bias_init": {"type": "zeros"},
    }
    conv = shown("lenet-5")["config"]["layers"][0]
    assert conv["weight_init"] == {"type": "he_normal"} and conv["bias_init"] == {"type": "zeros"}


def test_show_names_a_plugins_default_initialisers(acme):
    """A plain function registered under a name, an attrs object of a registered class, and an unregistered function."""
    layer = shown(acme / "acme-entry.toml", plugin=acme / "acme.py")["config"]["layers"][0]
    assert layer["gain_init"] == {"type": "acme-ones"}
    assert layer["spread_init"] == {"type": "uniform", "low": -0.5, "high": 0.5}
    assert re.fullmatch(r"<[\w.]*acme\.halves>", layer["offset_init"]), layer["offset_init"]


def test_show_in_text_prints_the_default_initialisers_too():
    result = zoo_command("show", "tuned-784-512-10-dropout")
    assert result.exit_code == 0, result.stderr
    config = json.loads(result.stdout.split("resolved config (defaults filled in):\n", 1)[1])
    assert config["layers"][3]["bias_init"] == {"type": "zeros"}


def test_resolved_prefers_the_name_with_fewest_options(catalog):
    """``Constant(0.0)`` is what both ``zeros`` and ``constant`` (with its default) make: ``zeros`` says it best."""
    entry = load_entry("tuned-784-512-10-dropout", catalog)
    assert resolved(entry, catalog)["layers"][0]["bias_init"] == {"type": "zeros"}
