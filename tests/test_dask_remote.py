"""Dask workers that share no files with the client: they train and return, the client writes every run
directory, ``--plugin`` files reach them, and Ctrl-C marks the trials that never began interrupted.

The cluster's workers are processes started in a directory of their own, with their own
temporary and scratch directories and without the client's ``ZOO_PLUGINS``; an audit hook in
each records every file it opens for writing, creates, renames or removes.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from conftest import DATA
from test_plugin_loading import GOOD
from typer.testing import CliRunner

import zoo
from zoo import modelfile
from zoo.cli import app
from zoo.loading import default_catalog
from zoo.runs import read_metrics, read_run

distributed = pytest.importorskip("distributed")

ADAM = "tuned-784-10-10-adam"
runner = CliRunner()

HALVE_PLUGIN = GOOD  # a layer plugin given as a .py file

USES_HALVE = """
description = "a dense layer, halved"
data = {dataset = "mnist", validation = 1000}
layers = [{type = "dense", units = 10}, {type = "halve"}]
loss = {type = "softmax_cross_entropy"}
optimizer = {type = "sgd", lr = 0.1}
batches = {type = "shuffled", size = 64}
train = {steps = 30}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two single-threaded worker processes in ``workers/``; yields the scheduler's address, that directory and
    a client."""
    workers = tmp_path_factory.mktemp("workers")
    for name in ("cwd", "tmp", "scratch"):
        (workers / name).mkdir()
    with pytest.MonkeyPatch.context() as patch:  # what the worker processes inherit, undone once they run
        patch.chdir(workers / "cwd")
        patch.setenv("TMPDIR", str(workers / "tmp"))
        patch.setenv("PYTHONDONTWRITEBYTECODE", "1")  # the interpreter's own .pyc files would count as writes
        patch.setenv("ZOO_DATA", str(DATA))  # absolute: CI's ZOO_DATA=../shared/data means nothing from workers/cwd
        for name in ("ZOO_PLUGINS", "ZOO_RUNS", "ZOO_REGISTRY_PATH"):
            patch.delenv(name, raising=False)
        local = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            local_directory=str(workers / "scratch"),
        )
    with local, distributed.Client(local) as client:
        client.run(_watch_writes)
        yield local.scheduler_address, workers, client


def _watch_writes(dask_worker):
    """On a worker: record, from now on, every path opened for writing, made, renamed or removed."""
    written = dask_worker.zoo_test_written = []
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND

    def hook(event, args):
        if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)) and args[2] & writing:
            written.append(os.fsdecode(args[0]))
        elif event in ("os.mkdir", "os.rename", "os.replace", "os.remove", "os.rmdir", "os.truncate"):
            written.append(os.fsdecode(args[0]) if isinstance(args[0], (str, bytes, os.PathLike)) else repr(args[0]))

    sys.addaudithook(hook)


def _written(dask_worker):
    """On a worker: what it wrote since the last call."""
    written = list(dask_worker.zoo_test_written)
    dask_worker.zoo_test_written.clear()
    return written


@pytest.fixture
def workers_wrote(cluster):
    """A function giving what the workers wrote, anywhere (their Dask scratch space too), since the test began."""
    client = cluster[2]
    client.run(_written)

    def wrote():
        return sorted(p for paths in client.run(_written).values() for p in paths)

    return wrote


@pytest.fixture
def plugin_env(monkeypatch):
    """The client's plugin variables and catalog, restored after the test."""
    for name in ("ZOO_PLUGINS", "ZOO_DISABLE_PLUGINS", "ZOO_REGISTRY_PATH"):
        monkeypatch.setenv(name, "")
    default_catalog.cache_clear()
    yield
    default_catalog.cache_clear()


def _same_run(local, remote):
    """Two run directories hold the same files, numbers and model, apart from ids, times and seconds."""
    assert sorted(p.name for p in local.iterdir()) == sorted(p.name for p in remote.iterdir())
    timing = {"id", "group", "started", "finished", "metrics"}
    a, b = read_run(local), read_run(remote)
    assert list(a) == list(b) and {k: a[k] for k in a.keys() - timing} == {k: b[k] for k in b.keys() - timing}
    assert {k: v for k, v in a["metrics"].items() if k != "train_seconds"} == {
        k: v for k, v in b["metrics"].items() if k != "train_seconds"
    }
    untimed = lambda records: [{k: v for k, v in r.items() if k != "seconds"} for r in records]  # noqa: E731
    assert untimed(read_metrics(local)) == untimed(read_metrics(remote))
    arrays, remote_arrays = modelfile.read_arrays(local / "model.npz"), modelfile.read_arrays(remote / "model.npz")
    assert arrays.keys() == remote_arrays.keys()
    for name in arrays.keys() - {modelfile.META_KEY}:
        assert arrays[name].dtype == remote_arrays[name].dtype and np.array_equal(arrays[name], remote_arrays[name])
    meta, remote_meta = modelfile.read_meta(local / "model.npz"), modelfile.read_meta(remote / "model.npz")
    assert remote_meta["run"] == remote.name
    assert meta["test_accuracy"] == remote_meta["test_accuracy"] and meta["val_accuracy"] == remote_meta["val_accuracy"]
    if (local / "test_predictions.npy").is_file():
        assert np.array_equal(np.load(local / "test_predictions.npy"), np.load(remote / "test_predictions.npy"))


def test_a_dask_sweep_and_compare_match_the_local_ones_and_only_the_client_writes(
    cluster, workers_wrote, tmp_path, data_env
):
    address, workers, _ = cluster
    sweep = dict(grid={"optimizer.lr": [0.001, 0.01]}, set=["train.steps=40"], data_dir=data_env)
    local = zoo.sweep(ADAM, **sweep, jobs=2, runs_dir=tmp_path / "local")
    remote = zoo.sweep(ADAM, **sweep, executor="dask", address=address, runs_dir=tmp_path / "remote")
    assert [row["val_accuracy"] for row in remote.trials] == [row["val_accuracy"] for row in local.trials]
    assert (remote.selected, remote.test_accuracy) == (local.selected, local.test_accuracy)
    compare = dict(set=["train.steps=30"], data_dir=data_env)  # trained with the test set: predictions travel
    local_compare = zoo.compare(ADAM, **compare, jobs=1, runs_dir=tmp_path / "local")
    remote_compare = zoo.compare(ADAM, **compare, executor="dask", address=address, runs_dir=tmp_path / "remote")
    assert remote_compare.rows[0]["test_accuracy"] == local_compare.rows[0]["test_accuracy"]

    pairs = [(a, b) for row, other in zip(local.trials, remote.trials) for a, b in zip(row["runs"], other["runs"])]
    pairs += [(local_compare.rows[0]["runs"][0], remote_compare.rows[0]["runs"][0])]
    assert len(pairs) == 3
    for local_run, remote_run in pairs:
        _same_run(tmp_path / "local" / local_run, tmp_path / "remote" / remote_run)
    assert workers_wrote() == []
    assert not [p for p in workers.rglob("*") if p.name in ("run.json", "metrics.jsonl", "model.npz", "runs")]


def test_a_trial_that_fails_on_a_worker_is_recorded_as_a_local_one_is(cluster, tmp_path, data_env):
    address = cluster[0]
    sweep = dict(grid={"optimizer.lr": [0.1, 1e30]}, set=["train.steps=40", "data.validation=1000"])
    local = zoo.sweep("seed-000-random-sample-sgd", **sweep, jobs=1, runs_dir=tmp_path / "local")
    remote = zoo.sweep(
        "seed-000-random-sample-sgd", **sweep, executor="dask", address=address, runs_dir=tmp_path / "remote"
    )
    assert [row["completed"] for row in remote.trials] == [row["completed"] for row in local.trials] == [1, 0]
    failed = {}
    for where in ("local", "remote"):
        runs = [read_run(p.parent) for p in (tmp_path / where).glob("*/run.json")]
        (info,) = [info for info in runs if info["status"] != "completed"]
        assert sorted(p.name for p in (tmp_path / where / info["id"]).iterdir()) == ["run.json"]
        failed[where] = {k: v for k, v in info.items() if k not in ("id", "group", "started", "finished")}
    assert failed["remote"] == failed["local"] and failed["local"]["status"] == "failed"
    assert "training diverged at step" in failed["local"]["error"]


def test_a_plugin_file_reaches_the_workers_and_a_plugin_module_they_lack_is_refused(
    cluster, workers_wrote, tmp_path, monkeypatch, plugin_env, data_env
):
    address, _, client = cluster
    (tmp_path / "halve_plugin.py").write_text(textwrap.dedent(HALVE_PLUGIN))
    (tmp_path / "uses-halve.toml").write_text(USES_HALVE)
    monkeypatch.chdir(tmp_path)  # both given relative to the client's directory, which the workers do not share
    monkeypatch.setattr("sys.path", list(sys.path))  # undo the directory a plugin module name adds
    monkeypatch.delitem(sys.modules, "halve_plugin", raising=False)
    assert not any(client.run(lambda: "halve" in default_catalog().names("layer")).values())
    sweep = ["sweep", "uses-halve.toml", "--grid", "optimizer.lr=0.05,0.1", "--executor", "dask", "--address", address]
    result = runner.invoke(app, ["--plugin", "halve_plugin.py", *sweep, "--json"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert all(row["val_accuracy"] > 0.1 for row in document["trials"]) and document["test_accuracy"] > 0.1
    runs = [read_run(tmp_path / "runs" / run) for run in read_run(tmp_path / "runs" / document["group"])["runs"]]
    assert [(info["status"], info["entry"]["layers"][1]["type"]) for info in runs] == [("completed", "halve")] * 2
    assert workers_wrote() == []

    monkeypatch.setenv("ZOO_PLUGINS", "")
    default_catalog.cache_clear()
    refused = runner.invoke(app, ["--plugin", "halve_plugin", *sweep])  # a module name: the client finds ./
    lines = refused.stderr.strip().splitlines()
    assert refused.exit_code == 1 and len(lines) == 1, refused.stderr
    assert lines[0].startswith("error: plugin halve_plugin (--plugin / ZOO_PLUGINS) cannot be loaded on a Dask")
    assert "No module named 'halve_plugin'" in lines[0] and "give --plugin its .py file" in lines[0]
    assert len(list((tmp_path / "runs").glob("*/group.json"))) == 1  # refused before a group began


def test_ctrl_c_stops_a_dask_sweep_and_reports_the_trials_that_never_began(cluster, tmp_path, data_env):
    address, _, _ = cluster
    runs = tmp_path / "runs"
    env = os.environ | {"ZOO_DATA": str(data_env), "ZOO_RUNS": str(runs)}
    grid = "train.steps=5,100001,100002,100003,100004,100005"
    command = [sys.executable, "-m", "zoo", "sweep", ADAM, "--grid", grid, "--executor", "dask", "--address", address]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not [p for p in runs.glob("*/run.json") if read_run(p.parent)["status"] == "completed"]:
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.1)
        time.sleep(1.0)  # the second trial (and a third) are training on the workers
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()  # if it is still running
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    interrupted = [line for line in stderr.splitlines() if line.startswith("interrupted ")]
    never_began = [line for line in interrupted if line.endswith(": stopped before it started")]
    assert len(interrupted) == 5 and len(never_began) >= 3, stderr  # at most two were training
    recorded = [read_run(p.parent) for p in runs.glob("*/run.json")]
    assert sorted(info["status"] for info in recorded) == ["completed"] + ["interrupted"] * (5 - len(never_began))
    for info in recorded:
        if info["status"] == "interrupted":  # stopped after a step, checkpointed: resumable from the client
            assert (runs / info["id"] / "checkpoint.npz").is_file() and "interrupted after step" in info["error"]
    group = next(p for p in runs.iterdir() if (p / "group.json").is_file())
    assert json.loads((group / "group.json").read_text())["status"] == "interrupted"
