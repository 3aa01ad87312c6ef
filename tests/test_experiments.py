"""compare and sweep: fair, repeatable, selected on validation data, identical whichever executor runs
them, and safe to stop midway."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from zoo import modelfile
from zoo.cli import app
from zoo.errors import ConfigError
from zoo.loading import default_catalog
from zoo.runs import list_runs, read_run, runs_root
from zoo.sweeps import overrides_for, parse_grid, select, settings_grid, summarise

runner = CliRunner()
ADAM = "tuned-784-10-10-adam"  # has a validation split
SWEEP = ["sweep", ADAM, "--grid", "optimizer.lr=0.001,0.01", "--set", "train.steps=40", "--repeats", "2"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_grid_parsing_and_combinations():
    grid = parse_grid(["layers.2.rate=0.0,0.5", "optimizer.type=sgd,adam"])
    assert grid == [("layers.2.rate", [0.0, 0.5]), ("optimizer.type", ["sgd", "adam"])]
    assert settings_grid(grid) == [
        {"layers.2.rate": 0.0, "optimizer.type": "sgd"},
        {"layers.2.rate": 0.0, "optimizer.type": "adam"},
        {"layers.2.rate": 0.5, "optimizer.type": "sgd"},
        {"layers.2.rate": 0.5, "optimizer.type": "adam"},
    ]
    tied = parse_grid(["layers.2.rate+layers.5.rate=0.1,0.2"])
    assert [overrides_for(setting) for setting in settings_grid(tied)] == [
        ("layers.2.rate=0.1", "layers.5.rate=0.1"),
        ("layers.2.rate=0.2", "layers.5.rate=0.2"),
    ]
    assert overrides_for({"optimizer.type": "sgd", "x": True}) == ('optimizer.type="sgd"', "x=true")
    for bad in (["rate"], ["a.b="], ["a=1", "a=2"]):
        with pytest.raises(ConfigError, match="--grid"):
            parse_grid(bad)


def test_selection_uses_the_mean_over_complete_repeats_only():
    settings = [{"x": 1}, {"x": 2}, {"x": 3}]
    done = lambda val, run: {"status": "completed", "val_accuracy": val, "train_seconds": 1.0, "run": run}  # noqa: E731
    results = [done(0.90, "a"), done(0.94, "b"), done(0.93, "c"), done(0.93, "d"), done(0.99, "e"), None]
    rows = summarise(settings, 2, results)
    assert [row["val_accuracy"] for row in rows] == pytest.approx([0.92, 0.93, 0.99])
    assert rows[2]["completed"] == 1
    assert select(rows, 2) == 1  # setting 3 looks best but did not finish its repeats


def test_compare_is_fair_and_machine_readable(data_env):
    args = ["compare", "seed-000-*", ADAM, "--set", "train.steps=3", "--set", "data.validation=5000", "--repeats", "2"]
    result = run(*args, "--jobs", "2", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["seeds"] == [0, 1]
    rows = document["results"]
    assert [r["name"] for r in rows] == ["seed-000-random-sample-sgd", ADAM]
    for row in rows:
        assert row["completed"] == 2 and row["test_accuracy_std"] >= 0 and len(row["runs"]) == 2
    runs = {info["id"]: info for info in list_runs()}
    for row in rows:
        assert sorted(runs[r]["seed"] for r in row["runs"]) == [0, 1]  # every contender: the same seeds
    group = read_run(runs_root() / document["group"])
    assert group["kind"] == "compare" and group["status"] == "completed" and len(group["runs"]) == 4

    csv = run(*args, "--jobs", "2", "--csv")
    lines = csv.stdout.strip().splitlines()
    assert lines[0].startswith("name,test_accuracy,test_accuracy_std") and len(lines) == 3
    table = run(*args, "--jobs", "2")
    assert "±" in table.stdout and "*" in table.stdout and "runs: zoo report " in table.stdout


def _sweep(*extra):
    result = run(*SWEEP, *extra, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_sweep_selects_on_validation_and_tests_only_the_selected_setting(data_env):
    document = _sweep("--jobs", "2")
    trials = document["trials"]
    assert [t["settings"] for t in trials] == [{"optimizer.lr": 0.001}, {"optimizer.lr": 0.01}]
    assert all({"val_accuracy", "val_accuracy_std", "seconds"} <= set(t) for t in trials)
    best = max(trials, key=lambda t: t["val_accuracy"])
    assert document["selected"] == best["settings"] and 0.1 < document["test_accuracy"] <= 1
    runs = list_runs()
    assert len(runs) == 4 and {r["group"] for r in runs} == {document["group"]}
    tested = [r for r in runs if r["metrics"]["test_accuracy"] is not None]
    assert sorted(r["settings"]["optimizer.lr"] for r in tested) == [best["settings"]["optimizer.lr"]] * 2
    for info in runs:  # the test set was never touched for the other setting
        has_predictions = (runs_root() / info["id"] / "test_predictions.npy").is_file()
        assert has_predictions == (info["settings"] == best["settings"])


def test_sweep_numbers_do_not_depend_on_jobs_or_rerun(data_env):
    first, second, serial = _sweep("--jobs", "2"), _sweep("--jobs", "2"), _sweep("--jobs", "1")
    strip = lambda d: (d["trials"], d["selected"], d["test_accuracy"])  # noqa: E731  (seconds differ)
    assert [t["val_accuracy"] for t in first["trials"]] == [t["val_accuracy"] for t in second["trials"]]
    assert [t["val_accuracy"] for t in first["trials"]] == [t["val_accuracy"] for t in serial["trials"]]
    assert strip(first)[1:] == strip(second)[1:] == strip(serial)[1:]


def test_sweep_on_a_dask_cluster_gives_the_local_numbers(data_env):
    distributed = pytest.importorskip("distributed")
    local = _sweep("--jobs", "2")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = _sweep("--executor", "dask", "--address", cluster.scheduler_address)
    assert [t["val_accuracy"] for t in remote["trials"]] == [t["val_accuracy"] for t in local["trials"]]
    assert [t["val_accuracy_std"] for t in remote["trials"]] == [t["val_accuracy_std"] for t in local["trials"]]
    assert (remote["selected"], remote["test_accuracy"]) == (local["selected"], local["test_accuracy"])


def test_sweep_mistakes_are_one_line(data_env):
    for args, message in [
        ([*SWEEP[:3], "optimizer.lrr=0.1"], "unknown key 'lrr'"),
        (["sweep", "seed-000-random-sample-sgd", "--grid", "optimizer.lr=0.1"], "a sweep selects on validation data"),
        ([*SWEEP, "--executor", "spark"], "unknown executor 'spark'"),
        ([*SWEEP, "--executor", "dask"], "--executor dask needs --address"),
    ]:
        result = run(*args)
        assert result.exit_code == 1 and message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_stopping_a_sweep_keeps_finished_trials_and_marks_the_unfinished_one(tmp_path, data_env):
    runs = tmp_path / "runs"
    env = os.environ | {"ZOO_DATA": str(data_env), "ZOO_RUNS": str(runs)}
    command = [sys.executable, "-m", "zoo", "sweep", ADAM, "--grid", "train.steps=5,200000", "--jobs", "1"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while not [r for r in list_runs(runs) if r["status"] == "running" and r["settings"]["train.steps"] == 200000]:
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.1)
    time.sleep(1.0)  # let it take some steps
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    by_steps = {r["settings"]["train.steps"]: r for r in list_runs(runs)}
    finished, stopped = by_steps[5], by_steps[200000]
    assert finished["status"] == "completed"
    network, entry, _ = modelfile.load(runs / finished["id"] / "model.npz", default_catalog())
    assert entry.name == ADAM and network.params
    assert stopped["status"] == "interrupted" and (runs / stopped["id"] / "checkpoint.npz").is_file()
    group = next(p for p in runs.iterdir() if (p / "group.json").is_file())
    assert json.loads((group / "group.json").read_text())["status"] == "interrupted"
    assert not list(runs.glob("*/.*.tmp"))


def test_a_sweep_over_the_data_is_refused(data_env):
    result = run("sweep", ADAM, "--grid", "optimizer.lr+data.validation=0.01,0.02")
    assert result.exit_code == 1
    assert "--grid data.validation: a sweep selects on validation accuracy" in result.stderr


def test_an_entry_that_does_not_fit_its_dataset_fails_before_any_data_is_read(tmp_path, runs_env, monkeypatch):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "nowhere"))  # reading the data would be another error
    for command in (["train", ADAM], ["compare", ADAM], ["sweep", ADAM, "--grid", "optimizer.lr=0.1"]):
        result = run(*command, "--set", "layers.2.units=7")
        assert result.exit_code == 1 and "gives outputs of shape (7,) but mnist has 10 classes" in result.stderr
    assert not runs_env.exists() or not any(runs_env.iterdir())
