"""zoo report on run directories written here in the runs format: every file, one-line errors, the matplotlib hint."""

import json
import struct
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

import zoo.cli.report  # noqa: F401  (registers the command; zoo.cli imports it too once wired in)
from zoo.cli import app
from zoo.report import confused_examples

runner = CliRunner()
LIKELY_MISTAKES = np.array([6, 7, 7, 5, 9, 3, 0, 2, 3, 4])  # for each digit, a digit it is often taken for


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def write_run(runs_dir, run_id, name, *, seed=0, status="completed", epochs=5, predictions=None, settings=None):
    """A run directory as zoo train writes it: run.json, one metrics.jsonl line per epoch, test_predictions.npy."""
    path = runs_dir / run_id
    path.mkdir(parents=True)
    metrics = None
    if predictions is not None:
        metrics = {"test_accuracy": 0.97, "val_accuracy": 0.968, "train_seconds": 12.5, "params": 407050}
    info = {
        "id": run_id,
        "name": name,
        "group": None,
        "status": status,
        "error": None,
        "seed": seed,
        "overrides": ["train.epochs=5"],
        "settings": settings or {},
        "config": {"data": {"dataset": "mnist"}},
        "dataset": "mnist",
        "classes": [str(d) for d in range(10)],
        "zoo_version": "0.1.0",
        "packages": {"numpy-zoo": "0.1.0"},
        "python": "3.11",
        "numpy": np.__version__,
        "started": "2026-11-25T23:15:12",
        "finished": None if status != "completed" else "2026-11-25T23:15:40",
        "metrics": metrics,
    }
    (path / "run.json").write_text(json.dumps(info))
    lines = []
    for epoch in range(1, epochs + 1):
        loss = 0.5 / epoch**0.8 + 0.01 * seed
        lines.append(
            json.dumps(
                {
                    "epoch": float(epoch),
                    "step": 1000 * epoch,
                    "loss": loss,
                    "train_accuracy": 1 - loss / 4,
                    "val_loss": loss * 1.2,
                    "val_accuracy": 1 - loss / 3.5,
                    "seconds": 2.5 * epoch,
                }
            )
        )
    text = "\n".join(lines) + "\n"
    if status == "interrupted":
        text += '{"epoch": 6.0, "st'  # killed mid-write
    (path / "metrics.jsonl").write_text(text)
    if predictions is not None:
        np.save(path / "test_predictions.npy", predictions.astype(np.int64))
    return path


def mistaken(labels, rate, seed):
    """Predictions that take ``rate`` of the images for a digit they are often confused with."""
    rng = np.random.default_rng(seed)
    predictions = labels.astype(np.int64).copy()
    wrong = rng.random(len(labels)) < rate
    predictions[wrong] = LIKELY_MISTAKES[labels[wrong]]
    return predictions


def png_size(path):
    """(width, height) from a PNG's header, after checking its signature."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def runs_dir(tmp_path, mnist):
    """A compare group of two completed runs, and one interrupted run that wrote no predictions."""
    runs = tmp_path / "runs"
    first = "20261125-231512-seed-004-online-sgd-3f9a2c"
    second = "20261125-231530-seed-003-minibatch-per-layer-lr-77b0e1"
    write_run(runs, first, "seed-004-online-sgd", predictions=mistaken(mnist.test_labels, 0.03, 1))
    write_run(runs, second, "seed-003-minibatch-per-layer-lr", seed=1, predictions=mistaken(mnist.test_labels, 0.05, 2))
    write_run(runs, "20261126-090000-seed-001-dropout-aa11bb", "seed-001-dropout", status="interrupted", epochs=2)
    group = {"id": "20261125-231500-compare-c0ffee", "kind": "compare", "runs": [first, second], "status": "completed"}
    (runs / group["id"]).mkdir()
    (runs / group["id"] / "group.json").write_text(json.dumps(group))
    return runs


def test_report_writes_curves_matrices_grids_and_page(runs_dir, tmp_path, data_env):
    out = tmp_path / "report"
    result = run("report", "20261125-231500-compare-c0ffee", "20261126-09", "--runs-dir", runs_dir, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert "index.html" in result.stdout
    completed = ["20261125-231512-seed-004-online-sgd-3f9a2c", "20261125-231530-seed-003-minibatch-per-layer-lr-77b0e1"]
    pictures = ["curves.png"] + [f"{kind}-{run_id}.png" for run_id in completed for kind in ("confusion", "confused")]
    assert sorted(p.name for p in out.iterdir()) == sorted(pictures + ["index.html"])  # no temporary files left
    for name in pictures:
        width, height = png_size(out / name)
        assert width >= 600 and height >= 400, name
        assert (out / name).stat().st_size > 20_000, name  # drawn, not an empty canvas
    page = (out / "index.html").read_text()
    for name in pictures:
        assert f'src="{name}"' in page
    for name in ("seed-004-online-sgd", "seed-003-minibatch-per-layer-lr", "seed-001-dropout"):
        assert name in page
    assert "interrupted" in page and "no test predictions" in page
    assert "97.00%" in page and "407,050" in page


def test_unknown_run_is_one_line_with_close_matches(runs_dir, tmp_path):
    result = run("report", "20261125-231512-seed-004-online-sgd-3f9a2d", "--runs-dir", runs_dir, "--out", tmp_path)
    assert result.exit_code == 1
    assert result.stderr.startswith("error:") and len(result.stderr.splitlines()) == 1
    assert "did you mean '20261125-231512-seed-004-online-sgd-3f9a2c'" in result.stderr
    assert not (tmp_path / "index.html").exists()


def test_predictions_that_do_not_fit_the_dataset_are_one_line(tmp_path, mnist, data_env):
    runs = tmp_path / "runs"
    write_run(runs, "20261125-231512-short-000000", "seed-004-online-sgd", predictions=mnist.test_labels[:100])
    result = run("report", "20261125-231512-short", "--runs-dir", runs, "--out", tmp_path / "report")
    assert result.exit_code == 1
    assert result.stderr.startswith("error:") and len(result.stderr.splitlines()) == 1
    assert "10,000 test images" in result.stderr
    assert not (tmp_path / "report").exists()  # checked before anything is written


def test_without_matplotlib_the_command_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    result = run("report", "any-run", "--out", tmp_path)
    assert result.exit_code == 1
    assert result.stderr == "error: zoo report needs matplotlib: pip install 'numpy-zoo[plot]'\n"


def test_importing_zoo_and_its_report_module_does_not_import_matplotlib():
    code = "import sys, zoo.cli, zoo.cli.report; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_confused_examples_take_the_most_frequent_confusions_first():
    labels = np.array([4, 4, 4, 7, 7, 1, 4, 7, 3, 4])
    predictions = np.array([9, 9, 9, 2, 2, 1, 9, 1, 3, 4])
    # 4→9 four times, 7→2 twice, 7→1 once; at most 3 per confusion, the first in dataset order
    assert confused_examples(labels, predictions, per_pair=3, limit=10).tolist() == [0, 1, 2, 3, 4, 7]
    assert confused_examples(labels, predictions, per_pair=3, limit=4).tolist() == [0, 1, 2, 3]
    assert confused_examples(labels, labels, per_pair=3, limit=10).tolist() == []
