"""Config faults: every bad entry or ``--set`` override is one line naming the file, the key path and what was
expected (with the closest names for a misspelt one), from the API and from the CLI alike, and loses nothing.
"""

import re
import sys

import numpy as np
import pytest
from test_config import MINIMAL
from typer.testing import CliRunner

from zoo.cli import app
from zoo.entries import load_entry
from zoo.errors import ZooError
from zoo.network import build_network

runner = CliRunner()


def assert_one_line(error: BaseException) -> str:
    """The error's text, which must be one non-empty line (the CLI prints it after ``error:``)."""
    message = str(error)
    assert message and len(message.splitlines()) == 1, repr(message)
    return message


def edit(*changes: tuple[str, str]) -> str:
    """MINIMAL with each ``(old, new)`` replacement made; each ``old`` must be there."""
    text = MINIMAL
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


DROPOUT = ("[loss]", '[[layers]]\ntype = "dropout"\nrate = 1.0\n[loss]')
ENTRY_FAULTS = {
    "malformed TOML": (edit(("units = 10", "units = = 10")), r"{file}: malformed TOML: .*\(at line 6, column 9\)"),
    "unknown key": (
        edit(("epochs = 1", "epoch = 1")),
        "{file}: train.epoch: unknown key 'epoch'; did you mean 'epochs'?",
    ),
    "unknown top-level key": (edit(("description", "descripton")), "{file}: descripton: .*did you mean 'description'?"),
    "unknown option": (
        edit(("lr = 0.1", "lr = 0.1\nmomentun = 0.9")),
        "{file}: optimizer.momentun: unknown key 'momentun' for optimizer 'sgd'; did you mean 'momentum'?",
    ),
    "unknown layer": (
        edit(('"dense"', '"dens"')),
        "{file}: layers.0.type: unknown layer 'dens'; did you mean 'dense'?",
    ),
    "unknown initialiser": (
        edit(("units = 10", 'units = 10\nweight_init = "he_norm"')),
        "{file}: layers.0.weight_init.type: unknown initialiser 'he_norm'; did you mean 'he_normal'?",
    ),
    "schedule that is a number": (
        edit(("description", "schedule = 0.0\ndescription")),
        "{file}: schedule: expected a table or a schedule name, got 0.0",
    ),
    "unknown dataset": (
        edit(("[loss]", '[data]\ndataset = "mnsit"\n[loss]')),
        "{file}: data.dataset: unknown dataset 'mnsit'; did you mean 'mnist'?",
    ),
    "wrong type: float for int": (
        edit(("epochs = 1", "epochs = 1.5")),
        "{file}: train.epochs: expected an integer, got 1.5",
    ),
    "wrong type: string for number": (
        edit(("lr = 0.1", 'lr = "fast"')),
        "{file}: optimizer: 'lr' must be a finite number > 0, got 'fast'",
    ),
    "wrong type: string for bool": (
        edit(("lr = 0.1", 'lr = 0.1\nnesterov = "yes"')),
        "{file}: optimizer: 'nesterov' must be true or false, got 'yes'",
    ),
    "wrong type: array items": (edit(('["test"]', "[1]")), r"{file}: tags: expected an array of strings, got \[1\]"),
    "wrong type: table for array": (
        edit(("[[layers]]", "[layers]")),
        r"{file}: layers: expected an array, got \{'type': 'dense', 'units': 10\}",
    ),
    "negative learning rate": (
        edit(("lr = 0.1", "lr = -0.1")),
        "{file}: optimizer: 'lr' must be a finite number > 0, got -0.1",
    ),
    "infinite learning rate": (
        edit(("lr = 0.1", "lr = inf")),
        "{file}: optimizer: 'lr' must be a finite number > 0, got inf",
    ),
    "layer learning rate nan": (
        edit(("units = 10", "units = 10\nlr = nan")),
        "{file}: layers.0.lr: must be a finite number > 0, got nan",
    ),
    "integer too large for a float": (
        edit(("units = 10", "units = 10\nlr = 1" + "0" * 400)),
        "{file}: layers.0.lr: expected a finite number, got 10{400}",
    ),
    "dropout rate 1": (
        edit(DROPOUT),
        r"{file}: layers.1: 'rate' must be a finite number >= 0 and < 1, got 1.0",
    ),
    "zero-width layer": (edit(("units = 10", "units = 0")), "{file}: layers.0: 'units' must be an integer > 0, got 0"),
    "negative validation": (
        edit(("[loss]", "[data]\nvalidation = -1\n[loss]")),
        "{file}: data.validation: must be >= 0, got -1",
    ),
    "both epochs and steps": (
        edit(("epochs = 1", "epochs = 1\nsteps = 3")),
        "{file}: train: give exactly one of epochs or steps",
    ),
    "no layers": (
        edit(('[[layers]]\ntype = "dense"\nunits = 10\n', "layers = []\n")),
        "{file}: layers: an entry needs at least one layer",
    ),
    "last layer does not give the classes": (
        edit(("units = 10", "units = 7")),
        r"{file}: layers.0: the last layer \(dense\) gives outputs of shape \(7,\) but mnist has 10 classes: "
        r"it must give \(10,\)",
    ),
    "line break in a key": (
        edit(("[train]", '[train]\n"ep\\nochs" = 1')),
        "{file}: train.ep ochs: unknown key 'ep\\\\nochs'",
    ),
}


def write_entry(directory, text: str):
    path = directory / "entry.toml"
    path.write_text(text, encoding="utf-8")
    return path


def expected_pattern(expected: str, path) -> str:
    return expected.replace("{file}", re.escape(str(path)))


@pytest.mark.parametrize("text, expected", ENTRY_FAULTS.values(), ids=ENTRY_FAULTS.keys())
def test_entry_fault_is_one_line_naming_file_key_and_expectation(tmp_path, catalog, text, expected):
    path = write_entry(tmp_path, text)
    with pytest.raises(ZooError) as caught:
        entry = load_entry(str(path), catalog)
        build_network(entry, catalog, (1, 28, 28), 10, np.random.SeedSequence(0))  # checks the last layer's width
    assert re.search(expected_pattern(expected, path), assert_one_line(caught.value)), str(caught.value)


def assert_cli_error(args: list[str], expected: str) -> None:
    """``zoo ARGS`` fails with exit code 1 and one ``error:`` line matching ``expected``, and no traceback."""
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert re.search(expected, lines[0]), lines[0]


@pytest.mark.parametrize("text, expected", ENTRY_FAULTS.values(), ids=ENTRY_FAULTS.keys())
def test_entry_fault_through_the_cli(tmp_path, text, expected):
    path = write_entry(tmp_path, text)
    assert_cli_error(["show", path], expected_pattern(expected, path))  # show builds the network too


ENTRY = "seed-003-minibatch-per-layer-lr"
SOURCE = re.escape(f"registry/{ENTRY}.toml (with --set)")
OVERRIDE_FAULTS = {
    "not KEY=VALUE": (["train.epochs"], r"--set 'train.epochs': expected KEY.PATH=VALUE"),
    "unknown table": (["trian.epochs=3"], f"{SOURCE}: trian: unknown key 'trian'; did you mean 'train'?"),
    "unknown key": (["train.epoch=3"], f"{SOURCE}: train.epoch: unknown key 'epoch'; did you mean 'epochs'?"),
    "unknown option": (
        ["optimizer.momentun=0.9"],
        "optimizer.momentun: unknown key 'momentun' .*did you mean 'momentum'",
    ),
    "option of another layer": (["layers.1.rate=0.3"], "layers.1.rate: unknown key 'rate' for layer 'relu'"),
    "index out of range": (
        ["layers.99.rate=0.3"],
        r"--set 'layers.99.rate=0.3': layers.99: no such index \(there are 7\)",
    ),
    "non-ASCII digit index": (["layers.².units=5"], r"layers.²: no such index"),
    "empty key": (["train.=3"], f"{SOURCE}: train.: unknown key ''"),
    "path through a value": (["train.epochs.x=1"], "train.epochs is a value, not a table"),
    "unknown plugin": (["layers.1.type=rellu"], "layers.1.type: unknown layer 'rellu'; did you mean 'relu'?"),
    "negative width": (["layers.0.units=-5"], f"{SOURCE}: layers.0: 'units' must be an integer > 0, got -5"),
    "word for a number": (["optimizer.lr=abc"], "optimizer: 'lr' must be a finite number > 0, got 'abc'"),
    "integer too large for a float": (["optimizer.lr=1" + "0" * 400], "'lr' must be a finite number > 0, got 10{400}$"),
    "empty value": (["train.epochs="], "train.epochs: expected an integer, got ''"),
    "two TOML lines as a value": (
        ["train.epochs=1\nseed = 3"],
        r"train.epochs: expected an integer, got '1\\nseed = 3'",
    ),
    "dropout rate 1": (
        ["layers.1.type=dropout", "layers.1.rate=1"],
        "layers.1: 'rate' must be a finite number >= 0 and < 1, got 1",
    ),
    "last layer width": (
        ["layers.6.units=9"],
        r"layers.6: the last layer \(dense\) gives outputs of shape \(9,\) but mnist has 10",
    ),
}


@pytest.mark.parametrize("overrides, expected", OVERRIDE_FAULTS.values(), ids=OVERRIDE_FAULTS.keys())
def test_override_fault_is_one_line(catalog, overrides, expected):
    with pytest.raises(ZooError) as caught:
        entry = load_entry(ENTRY, catalog, overrides)
        build_network(entry, catalog, (1, 28, 28), 10, np.random.SeedSequence(0))
    assert re.search(expected, assert_one_line(caught.value)), str(caught.value)


@pytest.mark.parametrize("overrides, expected", OVERRIDE_FAULTS.values(), ids=OVERRIDE_FAULTS.keys())
def test_override_fault_through_the_cli(overrides, expected):
    assert_cli_error(["show", ENTRY, *(f"--set={override}" for override in overrides)], expected)


def test_a_failed_run_changes_no_file(tmp_path):
    """A config fault stops ``zoo train`` before it touches the entry or an existing model file."""
    entry = write_entry(tmp_path, edit(("epochs = 1", "epoch = 1")))
    model = tmp_path / "model.npz"
    model.write_bytes(b"an earlier model")
    before = {path: path.read_bytes() for path in (entry, model)}
    assert_cli_error(["train", entry, "--out", model], "did you mean 'epochs'")
    assert_cli_error(["train", ENTRY, "--set", "train.epoch=3", "--out", model], "did you mean 'epochs'")
    assert {path: path.read_bytes() for path in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry.toml", "model.npz"]


def test_a_width_too_large_to_allocate_is_one_line(catalog):
    entry = load_entry(ENTRY, catalog, [f"layers.0.units={sys.maxsize}"])
    with pytest.raises(ZooError) as caught:
        build_network(entry, catalog, (1, 28, 28), 10, np.random.SeedSequence(0))
    assert "layers.0" in assert_one_line(caught.value)
