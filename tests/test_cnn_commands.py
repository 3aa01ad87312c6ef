"""Every command on convolutional entries: show, train, evaluate, compare, sweep (locally and on Dask), report,
and model files, each on a few steps of the real MNIST. Resuming CNN runs bit for bit is in test_checkpoint.py."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from zoo import modelfile
from zoo.cli import app
from zoo.evaluate import predict

SMALL_CNN = str(Path(__file__).parent / "data" / "small-cnn-every-layer.toml")
QUICK = ["--set", "train.steps=12", "--set", "train.log_every=6"]
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def ok(*args):
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout) if "--json" in args else result.stdout


def test_show_gives_every_shape_parameter_count_and_multiply_add_of_lenet_5():
    document = ok("show", "lenet-5", "--json")
    assert document["input"] == [1, 28, 28]
    outputs = [layer["output"] for layer in document["layers"]]
    assert outputs[:7] == [[6, 28, 28], [6, 28, 28], [6, 14, 14], [16, 10, 10], [16, 10, 10], [16, 5, 5], [400]]
    assert [layer["params"] for layer in document["layers"] if layer["params"]] == [156, 2416, 48120, 10164, 850]
    conv = document["layers"][0]
    assert conv["multiply_adds"] == 28 * 28 * 6 * 25  # every output value: 25 taps of one channel
    assert "1x28x28-6x28x28-6x14x14-16x10x10-16x5x5-120-84-10" in ok("list", "lenet-5")


def test_train_evaluate_and_the_model_file_of_a_cnn_with_batch_norm(data_env, tmp_path, mnist, catalog):
    model = tmp_path / "cnn.npz"
    trained = ok("train", SMALL_CNN, *QUICK, "--out", model, "--json")
    evaluated = ok("evaluate", model, "--json")
    assert evaluated["test_accuracy"] == trained["test_accuracy"] > 0.1
    arrays = modelfile.read_arrays(model)
    assert {"layers.1.running_mean", "layers.1.running_var", "layers.10.running_mean"} <= arrays.keys()
    assert not np.array_equal(arrays["layers.1.running_mean"], np.zeros(4))  # trained, not as built
    network, _, _ = modelfile.load(model, catalog)
    assert network.in_shape == (1, 28, 28)
    images = mnist.test_images[:500]
    assert np.array_equal(predict(network, images), predict(network, images.reshape(500, 1, 28, 28)))


def test_compare_and_a_sweep_over_the_filters_of_lenet_5(data_env):
    compared = ok("compare", "lenet-5", SMALL_CNN, *QUICK, "--set", "data.validation=500", "--jobs", "2", "--json")
    assert [row["completed"] for row in compared["results"]] == [1, 1]
    swept = ok("sweep", "lenet-5", "--grid", "layers.0.filters=2,4", *QUICK, "--jobs", "2", "--json")
    assert [trial["settings"] for trial in swept["trials"]] == [{"layers.0.filters": 2}, {"layers.0.filters": 4}]
    assert swept["selected"] in [trial["settings"] for trial in swept["trials"]] and swept["test_accuracy"] > 0.1


def test_a_cnn_sweep_on_dask_gives_the_local_numbers(data_env):
    distributed = pytest.importorskip("distributed")
    sweep = ["sweep", SMALL_CNN, "--grid", "optimizer.lr=0.003,0.01", *QUICK, "--json"]
    local = ok(*sweep, "--jobs", "2")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = ok(*sweep, "--executor", "dask", "--address", cluster.scheduler_address)
    assert [t["val_accuracy"] for t in remote["trials"]] == [t["val_accuracy"] for t in local["trials"]]
    assert remote["test_accuracy"] == local["test_accuracy"]


def test_a_report_on_cnn_runs(data_env, tmp_path):
    pytest.importorskip("matplotlib")
    trained = ok("train", SMALL_CNN, *QUICK, "--json")
    ok("report", trained["run"], "--out", tmp_path / "report")
    assert (tmp_path / "report" / "index.html").is_file() and (tmp_path / "report" / "curves.png").is_file()
