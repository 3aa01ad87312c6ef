"""The zoo command line through Typer's test runner: output, --json documents and one-line errors."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from zoo.cli import app

runner = CliRunner()
QUICK = ["--set", "train.steps=20"]  # seed-000 at 20 random samples of 1000: seconds, not minutes


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_list_shows_every_entry_one_line_each():
    result = run("list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    for i in range(5):
        assert len([line for line in lines if line.startswith(f"seed-00{i}")]) == 1
    assert len(lines) == 1 + len(json.loads(run("list", "--json").stdout))
    assert "784-512-10" in result.stdout


def test_list_json_and_pattern():
    rows = json.loads(run("list", "seed-*", "--json").stdout)
    assert [r["name"][:8] for r in rows] == [f"seed-00{i}" for i in range(5)]
    assert set(rows[0]) >= {"name", "description", "architecture", "tags"}
    assert rows[4]["architecture"] == [784, 512, 10] and rows[4]["tags"] == ["seed"]
    tuned = json.loads(run("list", "--tag", "tuned", "--json").stdout)
    assert tuned and all("tuned" in r["tags"] for r in tuned)


def test_show_prints_layers_and_parameter_counts():
    result = run("show", "seed-004-online-sgd")
    assert result.exit_code == 0
    assert "401,920" in result.stdout and "407,050" in result.stdout  # 784·512+512, and the total
    document = json.loads(run("show", "seed-004-online-sgd", "--json").stdout)
    assert [layer["params"] for layer in document["layers"]] == [401920, 0, 5130]


def test_train_json_is_the_only_stdout(data_env):
    result = run("train", "seed-000-random-sample-sgd", *QUICK, "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["name"] == "seed-000-random-sample-sgd"
    assert 0.2 < document["test_accuracy"] <= 1 and document["params"] == 7960 and document["train_seconds"] > 0
    assert "step" in result.stderr  # progress and logs go to stderr


def test_train_save_then_evaluate_reproduces_accuracy(data_env, tmp_path):
    model = tmp_path / "m.npz"
    trained = json.loads(run("train", "seed-000-random-sample-sgd", *QUICK, "--out", model, "--json").stdout)
    evaluated = run("evaluate", model, "--json")
    assert evaluated.exit_code == 0, evaluated.stderr
    document = json.loads(evaluated.stdout)
    assert document["test_accuracy"] == trained["test_accuracy"]
    matrix = np.array(document["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == 10000
    assert np.trace(matrix) / 10000 == document["test_accuracy"]
    assert "confusion matrix" in run("evaluate", model).stdout


def test_plugins_lists_builtins_with_their_package():
    document = json.loads(run("plugins", "--json").stdout)
    names = {(p["kind"], p["name"]): p["package"] for p in document["plugins"]}
    assert names[("layer", "dense")] == "numpy-zoo"
    assert {("optimizer", "adam"), ("augmenter", "rotate"), ("batches", "sequential")} <= set(names)
    assert document["failures"] == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "seed-004-onlin-sgd"], "unknown model 'seed-004-onlin-sgd'; did you mean 'seed-004-online-sgd'?"),
        (["show", "seed-004-online-sgd", "--set", "layers.0.weight_init.type=he_norm"], "did you mean 'he_normal'"),
        (["train", "seed-004-online-sgd", "--set", "train.epoch=3"], "unknown key 'epoch'; did you mean 'epochs'?"),
        (["train", "seed-004-online-sgd", "--set", "nonsense"], "expected KEY.PATH=VALUE"),
        (["compare", "nothing-*"], "unknown model 'nothing-*'"),
        (["train", "missing.toml"], "missing.toml: no such file"),
        (["train", "seed-004-online-sgd", "--set", "train.seed=-1"], "train.seed: must be >= 0, got -1"),
        (["train", "seed-004-online-sgd", "--set", "optimizer.lr=inf"], "'lr' must be a finite number > 0, got inf"),
        (
            ["show", "seed-004-online-sgd", "--set", "layers.0.weight_init=3"],
            "layers.0.weight_init: expected an initialiser name or table, got 3",
        ),
    ],
)
def test_user_mistakes_give_one_line_and_exit_1(args, message):
    result = run(*args)
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_missing_data_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr("zoo.data.SYSTEM_DIR", tmp_path / "system")
    monkeypatch.setattr("urllib.request.urlopen", _offline)
    result = run("train", "seed-000-random-sample-sgd")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "not found" in result.stderr and "ZOO_DATA" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _offline(*args, **kwargs):
    raise OSError("no network in this test")


@pytest.mark.parametrize("content", [b"", b"not a zip file", b"PK\x03\x04 truncated"])
def test_unreadable_model_file_is_one_line(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    result = run("evaluate", path)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and str(path) in result.stderr
    assert "Traceback" not in result.stderr


def test_python_dash_m_zoo_works():
    import subprocess
    import sys

    completed = subprocess.run([sys.executable, "-m", "zoo", "list", "--json"], capture_output=True, text=True)
    assert completed.returncode == 0 and json.loads(completed.stdout)


def test_an_unwritable_out_path_fails_before_training(data_env, tmp_path):
    result = run("train", "seed-000-random-sample-sgd", *QUICK, "--out", tmp_path)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "is a directory" in result.stderr
    assert "step" not in result.stderr  # no training happened


def test_entry_names_complete_in_the_shell():
    from zoo.cli.models import entry_names

    assert [name[:8] for name in entry_names("seed-00")] == [f"seed-00{i}" for i in range(5)]
    assert entry_names("nothing") == [] and "tuned-784-512-10-dropout" in entry_names("")
