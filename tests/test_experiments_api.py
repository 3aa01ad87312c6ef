"""compare and sweep from Python: the same numbers and documents as the CLI's --json, dict or list forms of
overrides and grids, one-line errors as ZooErrors, and results that show themselves in a notebook."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from zoo.cli import app
from zoo.comparison import MixedDataError, compare
from zoo.errors import ConfigError, UnknownNameError, ZooError
from zoo.overrides import as_overrides, overrides_for
from zoo.runs import list_runs, read_run
from zoo.sweeps import grid_axes, sweep

runner = CliRunner()
SGD, ADAM = "seed-000-random-sample-sgd", "tuned-784-10-10-adam"  # no validation split; 5000 held out
QUICK = {"train.steps": 20}
LRS = [0.001, 0.01]


def cli_json(*args):
    result = runner.invoke(app, [str(a) for a in args] + ["--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def test_compare_returns_what_the_cli_prints(data_env, tmp_path):
    warnings, started, ended = [], [], []
    result = compare(
        [SGD, ADAM],
        set=QUICK,
        jobs=1,
        runs_dir=tmp_path / "api",
        allow_mixed_data=True,
        on_warning=warnings.append,
        on_start=lambda group, trials: started.append((group, len(trials))),
        on_result=lambda trial, outcome: ended.append((trial.entry, outcome["status"])),
    )
    printed, stderr = cli_json(
        "compare", SGD, ADAM, "--set", "train.steps=20", "--jobs", 1, "--allow-mixed-data", "--runs-dir", tmp_path
    )
    document = result.to_dict()
    assert document.keys() == printed.keys() == {"group", "seeds", "results"}
    assert document["seeds"] == printed["seeds"] == [0] and result.seeds == (0,)
    for ours, theirs in zip(document["results"], printed["results"], strict=True):
        assert list(ours) == list(theirs)  # the same keys in the same order
        for key in ours.keys() - {"runs", "train_seconds", "train_seconds_std"}:
            assert ours[key] == theirs[key], key  # the same seeds: the same numbers
    assert document["results"][0]["val_accuracy"] is None and document["results"][1]["val_accuracy"] > 0.1
    assert result.mixed_data and not result.stopped
    assert warnings == [stderr.split("warning: ")[1].splitlines()[0]]
    assert "uses mnist, no validation" in warnings[0]
    assert started == [(result.group, 2)] and sorted(ended) == [(SGD, "completed"), (ADAM, "completed")]

    group = read_run(tmp_path / "api" / result.group)  # the library writes the group file
    assert group["kind"] == "compare" and group["status"] == "completed"
    assert group["runs"] == [run for row in document["results"] for run in row["runs"]]
    assert group["results"] == document["results"]

    page = result._repr_html_()
    assert page.count("<tr>") == 3 and SGD in page and ADAM in page
    assert f"{document['results'][1]['test_accuracy'] * 100:.2f} %" in page and "mnist, no validation" in page
    assert repr(result).startswith(f"Comparison({result.group!r}, seeds [0], mixed data, test accuracy: {SGD} ")


def test_sweep_returns_what_the_cli_prints(data_env, tmp_path):
    result = sweep(ADAM, {"optimizer.lr": LRS}, set=QUICK, jobs=1, runs_dir=tmp_path / "api")
    printed, _ = cli_json(
        "sweep",
        ADAM,
        "--grid",
        "optimizer.lr=0.001,0.01",
        "--set",
        "train.steps=20",
        "--jobs",
        1,
        "--runs-dir",
        tmp_path,
    )
    document = result.to_dict()
    keys = {"group", "trials", "selected", "test_accuracy", "test_accuracy_std", "test_time_shifts"}
    assert document.keys() == printed.keys() == keys
    strip = lambda d: [{k: v for k, v in t.items() if k != "seconds"} for t in d["trials"]]  # noqa: E731
    assert strip(document) == strip(printed)
    assert [t["settings"] for t in document["trials"]] == [{"optimizer.lr": lr} for lr in LRS]
    assert (document["selected"], document["test_accuracy"]) == (printed["selected"], printed["test_accuracy"])
    assert result.selected == document["selected"] and not result.stopped

    tested = [r for r in list_runs(tmp_path / "api") if r["metrics"]["test_accuracy"] is not None]
    assert [r["settings"] for r in tested] == [result.selected]  # only the selected setting saw the test set
    group = read_run(tmp_path / "api" / result.group)
    assert group["kind"] == "sweep" and group["status"] == "completed" and group["selected"] == result.selected

    page = result._repr_html_()
    assert page.count("<tr>") == 3 and "0.001" in page and "0.01" in page and "selected" in page
    assert f"{document['test_accuracy']:.2%}" in page
    assert repr(result).startswith(f"SweepResult({result.group!r}, 2 settings x 1 seed, selected optimizer.lr=")


def test_a_sweep_asked_to_stop_selects_nothing_and_marks_its_group_interrupted(data_env, tmp_path):
    result = sweep(
        ADAM, ["optimizer.lr=0.001,0.01"], set=["train.steps=20"], jobs=1, runs_dir=tmp_path, should_stop=lambda: True
    )
    assert result.stopped and result.selected is None
    assert "test_accuracy" not in result.to_dict() and result.to_dict()["selected"] is None
    assert read_run(tmp_path / result.group)["status"] == "interrupted"
    assert "nothing selected: stopped" in repr(result)
    assert not any((tmp_path / r["id"] / "test_predictions.npy").exists() for r in list_runs(tmp_path))


def test_overrides_and_grids_in_dict_and_list_form_agree():
    assert as_overrides({"train.steps": 20, "optimizer.type": "sgd"}) == ["train.steps=20", 'optimizer.type="sgd"']
    assert as_overrides(["train.steps=20"]) == ["train.steps=20"] and as_overrides(None) == []
    tied = "layers.2.rate+layers.5.rate"
    assert grid_axes({"optimizer.lr": LRS, tied: (0.1, 0.2)}) == grid_axes(
        ["optimizer.lr=0.001,0.01", f"{tied}=0.1,0.2"]
    )
    assert grid_axes({"x": np.array([0.5, 1.0])}) == [("x", [0.5, 1.0])]  # NumPy values become plain ones
    assert overrides_for({"a": np.float32(0.5), "b": 'say "hi"', "c": [1, True], "d": np.int64(3)}) == (
        "a=0.5",
        'b="say \\"hi\\""',
        "c=[1, true]",
        "d=3",
    )


def test_mistakes_are_zoo_errors_raised_before_anything_trains(tmp_path):
    with pytest.raises(MixedDataError, match="seed-000-random-sample-sgd uses mnist, no validation") as caught:
        compare([SGD, ADAM], set=QUICK, runs_dir=tmp_path)
    assert isinstance(caught.value, ZooError)
    for call, error, message in [
        (lambda: compare("nothing-*", runs_dir=tmp_path), UnknownNameError, "unknown model 'nothing-*'"),
        (lambda: compare(ADAM, set="train.steps=3"), ConfigError, "set= takes a dict or a list"),
        (lambda: compare(ADAM, repeats=0), ConfigError, "repeats must be an integer >= 1, got 0"),
        (lambda: sweep(ADAM, {"optimizer.lr": 0.1}), ConfigError, "grid['optimizer.lr']: expected a non-empty list"),
        (lambda: sweep(ADAM, {"data.split": ["last"]}), ConfigError, "grid data.split: a sweep selects on validation"),
        (lambda: sweep(ADAM, {}), ConfigError, "at least one key"),
        (lambda: sweep(SGD, {"optimizer.lr": LRS}), ConfigError, "a sweep selects on validation data"),
        (lambda: sweep(ADAM, {"optimizer.lr": [None]}), ConfigError, "None: not a value a setting can take"),
        (lambda: sweep(ADAM, {"optimizer.lr": LRS}, executor="spark"), ZooError, "unknown executor 'spark'"),
    ]:
        with pytest.raises(error, match=re.escape(message)):
            call()
    assert not any(tmp_path.iterdir())


def test_a_script_without_a_main_guard_gets_one_clear_error_and_no_stray_groups(data_env, tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(f"import zoo.comparison\nzoo.comparison.compare({ADAM!r}, set={QUICK!r}, jobs=1)\n")
    env = os.environ | {"ZOO_RUNS": str(tmp_path / "runs")}
    done = subprocess.run([sys.executable, script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert 'outside `if __name__ == "__main__":`' in done.stderr.strip().splitlines()[-1]
    groups = list((tmp_path / "runs").iterdir())  # the workers, re-running the script, started none of their own
    assert len(groups) == 1 and read_run(groups[0])["status"] == "interrupted"
