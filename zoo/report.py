"""A report on runs from their directories: learning curves, confusion matrices, most-confused test images, one page.

matplotlib is an optional extra: it is imported inside the functions that draw, so ``import zoo`` never needs it,
and figures are drawn on Agg canvases, never on a screen. Every file is written under a temporary name and then
renamed, so an interrupted report leaves no half-written file behind.
"""

import collections
import html
import io
import re
from collections.abc import Callable
from pathlib import Path

import attrs
import numpy as np

from zoo.atomic import write_atomic
from zoo.catalog import Catalog
from zoo.datasets import load_dataset
from zoo.errors import ZooError, one_line
from zoo.evaluate import confusion_matrix
from zoo.runs import RunError, read_metrics, read_run

INSTALL_HINT = "zoo report needs matplotlib: pip install 'numpy-zoo[plot]'"
GRID_ROWS, GRID_COLUMNS = 4, 6
"""The most-confused grid: at most GRID_COLUMNS images per confusion, GRID_ROWS * GRID_COLUMNS in all."""


@attrs.frozen(eq=False)
class RunData:
    """What the report shows of one run: run.json, its log points (metrics.jsonl) and its test predictions."""

    path: Path
    info: dict
    log: list[dict]
    predictions: np.ndarray | None  # (N_test,) predicted class, None when the run wrote none (e.g. interrupted)

    @classmethod
    def load(cls, path: Path) -> "RunData":
        path = Path(path)
        predictions_file = path / "test_predictions.npy"
        predictions = None
        if predictions_file.is_file():
            try:
                predictions = np.load(predictions_file, allow_pickle=False)
            except (OSError, ValueError) as error:
                raise RunError(f"cannot read {predictions_file}: {one_line(error)}") from error
        return cls(path, read_run(path), read_metrics(path), predictions)

    @property
    def stem(self) -> str:
        """The run id made safe for a file name."""
        return re.sub(r"[^A-Za-z0-9._-]", "_", self.info["id"])


@attrs.frozen(eq=False)
class TestSet:
    """A dataset's test images (N, H, W) uint8 and labels (N,)."""

    images: np.ndarray
    labels: np.ndarray


def require_matplotlib() -> None:
    """Fail with the install hint when matplotlib is missing, before any work is done."""
    _figure_class()


def write_report(paths: list[Path], out: Path, catalog: Catalog, data_dir=None) -> list[Path]:
    """Load the runs at ``paths`` and write curves.png, confusion and confused PNGs per run, and index.html
    into ``out``; returns the files written. Everything is read and checked before the first file is written."""
    figure = _figure_class()
    runs = [RunData.load(path) for path in paths]
    tests = _test_sets(runs, catalog, data_dir)
    labels = run_labels(runs)
    try:
        return _write(figure, runs, labels, tests, out)
    except OSError as error:
        raise ZooError(f"cannot write the report into {out}: {one_line(error)}") from error


def _write(figure, runs: list[RunData], labels: list[str], tests: dict[str, TestSet], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [_save(out / "curves.png", learning_curves(figure, runs, labels))]
    images = {}
    for run, label in zip(runs, labels):
        if run.predictions is None:
            continue
        test = tests[run.info["dataset"]]
        classes = list(run.info["classes"])
        matrix = confusion_matrix(test.labels, run.predictions, len(classes))
        confusion = _save(out / f"confusion-{run.stem}.png", confusion_heatmap(figure, matrix, classes, label))
        grid = most_confused_grid(figure, test, run.predictions, matrix, classes, label)
        images[run.info["id"]] = (confusion, _save(out / f"confused-{run.stem}.png", grid))
        written += images[run.info["id"]]
    written.append(_save(out / "index.html", index_page(runs, labels, images).encode("utf-8")))
    return written


def datasets(runs: list[RunData]) -> list[str]:
    """The datasets the runs were trained on, each once, sorted."""
    return sorted({run.info["dataset"] for run in runs})


def run_labels(runs: list[RunData]) -> list[str]:
    """One label per run: its name, followed by its dataset when the runs are on several, then its sweep settings,
    seed or id where runs of the same name differ in them, e.g. ``seed-001-dropout (mnist, layers.2.rate=0.3, seed 1)``.
    """
    extras = [
        lambda run: ", ".join(f"{key}={value}" for key, value in run.info.get("settings", {}).items()),
        lambda run: f"seed {run.info['seed']}",
        lambda run: run.info["id"],
    ]
    # Curves of different datasets are not comparable: every label says which one a run is on.
    mixed = len(datasets(runs)) > 1
    parts = [[run.info["dataset"]] if mixed else [] for run in runs]
    for extra in extras:
        groups = collections.defaultdict(list)
        for i, run in enumerate(runs):
            groups[(run.info["name"], *parts[i])].append(i)
        for members in groups.values():
            values = [extra(runs[i]) for i in members]
            if len(set(values)) > 1:
                for i, value in zip(members, values):
                    parts[i].append(value)
    return [run.info["name"] + (f" ({', '.join(p)})" if p else "") for run, p in zip(runs, parts)]


def learning_curves(figure_class, runs: list[RunData], labels: list[str]) -> bytes:
    """PNG of loss and accuracy per epoch: one colour per run, solid for training, dashed for validation."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    legend = [
        label if run.info["status"] == "completed" else f"{label} [{run.info['status']}]"
        for run, label in zip(runs, labels)
    ]
    # Legend columns as wide as the longest label (about 7 px a character), as many as fit in 1250 px.
    legend_columns = max(1, min(len(runs), 1250 // (7 * max(map(len, legend)) + 60), 4))
    legend_rows = -(-len(runs) // legend_columns)
    figure = figure_class(figsize=(13, 5.2 + 0.3 * legend_rows), layout="constrained")
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    colours = _colours(len(runs))
    for run, colour in zip(runs, colours):
        marker = "o" if len(run.log) <= 30 else None
        for axes, train_key, val_key in (
            (loss_axes, "loss", "val_loss"),
            (accuracy_axes, "train_accuracy", "val_accuracy"),
        ):
            for key, style in ((train_key, "-"), (val_key, "--")):
                points = [(p["epoch"], p[key]) for p in run.log if p.get(key) is not None]
                if points:
                    axes.plot(*zip(*points), linestyle=style, color=colour, marker=marker, markersize=3.5)
    # Full-batch runs log hundreds of epochs, online SGD a fraction of one: on a linear axis one kind hides the other.
    ends = [run.log[-1]["epoch"] for run in runs if run.log]
    log_x = len(ends) > 1 and max(ends) > 10 * min(ends)
    for axes, title, ylabel in (
        (loss_axes, "Loss per epoch", "loss"),
        (accuracy_axes, "Accuracy per epoch", "accuracy"),
    ):
        axes.set_title(title)
        axes.set_xlabel("epoch (log scale)" if log_x else "epoch")
        if log_x:
            axes.set_xscale("log")
            axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axes.set_ylabel(ylabel)
        axes.grid(alpha=0.3)
    accuracy_axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    styles = [Line2D([], [], color="black", linestyle="-"), Line2D([], [], color="black", linestyle="--")]
    loss_axes.legend(styles, ["training", "validation"], loc="upper right")
    handles = [Line2D([], [], color=colour, linewidth=3) for colour in colours]
    figure.legend(handles, legend, loc="outside lower center", ncol=legend_columns, frameon=False)
    figure.suptitle(curves_title(runs), fontsize=14)
    return _png(figure)


def curves_title(runs: list[RunData]) -> str:
    """``Learning curves (2 runs on mnist)``, or ``... (3 runs on 2 datasets: fashion-mnist, mnist)``."""
    names = datasets(runs)
    on = names[0] if len(names) == 1 else f"{len(names)} datasets: {', '.join(names)}"
    return f"Learning curves ({len(runs)} run{'s' if len(runs) != 1 else ''} on {on})"


def confusion_heatmap(figure_class, matrix: np.ndarray, classes: list[str], label: str) -> bytes:
    """PNG of ``matrix[true, predicted]`` with every count written in its cell, on a log colour scale so the
    few-image mistakes off the diagonal show up next to the thousand-image diagonal."""
    from matplotlib.colors import LogNorm

    n = len(classes)
    figure = figure_class(figsize=(8, 7), layout="constrained")
    axes = figure.subplots()
    top = max(int(matrix.max()), 2)
    image = axes.imshow(np.ma.masked_equal(matrix, 0), cmap="Blues", norm=LogNorm(vmin=0.5, vmax=top))
    figure.colorbar(image, ax=axes, shrink=0.8, label="test images (log scale; blank = 0)")
    fontsize = 9 if n <= 10 else 7
    for (true, predicted), count in np.ndenumerate(matrix):
        if count:
            dark = np.log(count) > 0.6 * np.log(top)
            colour = "white" if dark else "black"
            axes.text(predicted, true, str(count), ha="center", va="center", fontsize=fontsize, color=colour)
    slanted = max(map(len, classes)) > 2  # words (Fashion-MNIST) rather than digits
    axes.set_xticks(range(n), classes, rotation=40 if slanted else 0, ha="right" if slanted else "center")
    axes.set_yticks(range(n), classes)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    axes.set_title(f"Confusion matrix: {label}\ntest accuracy {accuracy:.2%} on {matrix.sum():,} images")
    return _png(figure)


def confused_examples(labels: np.ndarray, predictions: np.ndarray, per_pair: int, limit: int) -> np.ndarray:
    """Indices of misclassified images, most frequent (true, predicted) pairs first, at most ``per_pair`` of each
    pair (the first in dataset order) and ``limit`` in all."""
    wrong = np.flatnonzero(labels != predictions)
    pairs = labels[wrong].astype(np.int64) * (max(labels.max(), predictions.max()) + 1) + predictions[wrong]
    unique, inverse, counts = np.unique(pairs, return_inverse=True, return_counts=True)
    rank_of_pair = np.empty(len(unique), dtype=np.int64)
    rank_of_pair[np.lexsort((unique, -counts))] = np.arange(len(unique))
    rank = rank_of_pair[inverse]
    order = np.lexsort((wrong, rank))  # stable by pair rank, then dataset order
    rank, chosen = rank[order], wrong[order]
    position_in_pair = np.arange(len(rank)) - np.searchsorted(rank, rank)
    return chosen[position_in_pair < per_pair][:limit]


def most_confused_grid(
    figure_class, test: TestSet, predictions: np.ndarray, matrix: np.ndarray, classes: list[str], label: str
) -> bytes:
    """PNG of the misclassified test images from the most frequent confusions, each titled true → predicted."""
    chosen = confused_examples(test.labels, predictions, GRID_COLUMNS, GRID_ROWS * GRID_COLUMNS)
    rows = -(-len(chosen) // GRID_COLUMNS)
    two_lines = max(map(len, classes)) > 3  # class names rather than digits
    # Fixed geometry in inches rather than a constrained layout, which costs more than drawing 24 small images.
    cell, gap, title, heading, margin = 1.8, 0.15, 0.5 if two_lines else 0.3, 0.75, 0.1
    width = GRID_COLUMNS * cell + (GRID_COLUMNS - 1) * gap + 2 * margin
    height = heading + rows * (title + cell) + margin
    figure = figure_class(figsize=(width, height))
    if rows:
        figure.subplots_adjust(
            left=margin / width,
            right=1 - margin / width,
            bottom=margin / height,
            top=1 - (heading + title) / height,
            wspace=gap / cell,
            hspace=title / cell,
        )
        grid = np.atleast_1d(figure.subplots(rows, GRID_COLUMNS)).ravel()
        for axes in grid[len(chosen) :]:
            axes.set_axis_off()
        for axes, index in zip(grid, chosen):
            axes.set_xticks([])
            axes.set_yticks([])
            axes.spines[:].set_color("0.8")  # a light frame shows where the image ends
            image = test.images[index]  # (H, W), or (C, H, W): one channel shown, three as colour
            image = image[0] if image.ndim == 3 and image.shape[0] != 3 else image
            axes.imshow(image.transpose(1, 2, 0) if image.ndim == 3 else image, cmap="gray_r", interpolation="nearest")
            true, predicted = classes[test.labels[index]], classes[predictions[index]]
            axes.set_title(f"true {true}{chr(10) if two_lines else ' '}→ pred {predicted}", fontsize=10)
    pairs = list(dict.fromkeys((int(test.labels[i]), int(predictions[i])) for i in chosen))
    counts = ", ".join(f"{classes[t]} → {classes[p]} ({matrix[t, p]})" for t, p in pairs[:4])
    counts += ", …" if len(pairs) > 4 else ""  # one line of the heading
    wrong = int(np.sum(test.labels != predictions))
    summary = f"{wrong:,} of {len(predictions):,} misclassified"
    if counts:
        summary += f"; up to {GRID_COLUMNS} shown from each of the most frequent confusions:\n{counts}"
    figure.suptitle(
        f"Most-confused test images: {label}\n{summary}",
        fontsize=12,
        y=1 - margin / height,
        va="top",
    )
    return _png(figure)


def index_page(runs: list[RunData], labels: list[str], images: dict[str, tuple[Path, Path]]) -> str:
    """The HTML page: a metrics table, the learning curves, and per run its confusion matrix and confused images."""
    rows, sections = [], []
    for run, label in zip(runs, labels):
        info, metrics = run.info, run.info.get("metrics") or {}
        anchor = f"run-{run.stem}"
        cells = [
            f'<a href="#{anchor}">{html.escape(label)}</a>',
            html.escape(info["dataset"]),
            f'<span class="status {html.escape(info["status"])}">{html.escape(info["status"])}</span>',
            str(info["seed"]),
            _number(metrics.get("test_accuracy"), "{:.2%}"),
            _number(metrics.get("val_accuracy"), "{:.2%}"),
            _number(metrics.get("train_seconds"), "{:.1f}"),
            _number(metrics.get("params"), "{:,}"),
            f"<code>{html.escape(info['id'])}</code>",
        ]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
        sections.append(_run_section(run, label, anchor, images.get(info["id"])))
    header = ["name", "dataset", "status", "seed", "test accuracy", "val accuracy", "train seconds", "params", "run id"]
    names = datasets(runs)
    mixed = ""
    if len(names) > 1:
        mixed = (
            f'<p class="note">These runs are on {len(names)} datasets ({html.escape(", ".join(names))}): '
            "each run's label names its dataset, and their curves and accuracies are not comparable.</p>"
        )
    return _PAGE.format(
        count=len(runs),
        plural="s" if len(runs) != 1 else "",
        mixed=mixed,
        header="".join(f"<th>{column}</th>" for column in header),
        rows="\n".join(rows),
        sections="\n".join(sections),
    )


def _run_section(run: RunData, label: str, anchor: str, images: tuple[Path, Path] | None) -> str:
    info = run.info
    facts = [
        f"status <b>{html.escape(info['status'])}</b>",
        f"seed {info['seed']}",
        f"dataset {html.escape(info['dataset'])}",
        f"zoo {html.escape(info['zoo_version'])}",
    ]
    facts += [f"<code>{html.escape(f'{k}={v}')}</code>" for k, v in info.get("settings", {}).items()]
    facts += [f"<code>--set {html.escape(o)}</code>" for o in info.get("overrides", [])]
    notes = []
    if info.get("error"):  # why it failed, or where it was interrupted
        notes.append(("error: " if info["status"] == "failed" else "") + html.escape(info["error"]))
    if not run.log:
        notes.append("no log points in metrics.jsonl: nothing to draw in the learning curves")
    if images is None and info.get("test") is False:
        notes.append("not evaluated on the test set (a sweep trial): no confusion matrix or confused images")
    elif images is None:
        notes.append(f"no test predictions ({html.escape(info['status'])} run): no confusion matrix or confused images")
    parts = [f'<section id="{anchor}"><h2>{html.escape(label)}</h2>', f"<p>{' · '.join(facts)}</p>"]
    parts += [f'<p class="note">{note}</p>' for note in notes]
    if images is not None:
        for path, alt in zip(images, ("confusion matrix", "most-confused test images")):
            parts.append(f'<img src="{html.escape(path.name)}" alt="{alt}: {html.escape(label)}">')
    return "\n".join(parts) + "</section>"


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>zoo report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 80em; }}
table {{ border-collapse: collapse; }}
th, td {{ border-bottom: 1px solid #ccc; padding: 0.3em 0.8em; text-align: left; }}
td:nth-child(n+4):nth-child(-n+8) {{ text-align: right; }}
img {{ max-width: 100%; display: block; margin: 1em 0; }}
.status.completed {{ color: #176f2c; }}
.status.interrupted, .status.running {{ color: #a35c00; font-weight: bold; }}
.status.failed {{ color: #b00020; font-weight: bold; }}
.note {{ color: #a35c00; }}
</style>
</head>
<body>
<h1>zoo report: {count} run{plural}</h1>
{mixed}
<table>
<tr>{header}</tr>
{rows}
</table>
<h2>Learning curves</h2>
<img src="curves.png" alt="learning curves: loss and accuracy per epoch">
{sections}
</body>
</html>
"""


def _test_sets(runs: list[RunData], catalog: Catalog, data_dir) -> dict[str, TestSet]:
    """The test split of every dataset a run with predictions used, after checking the predictions fit it."""
    tests = {}
    for run in runs:
        if run.predictions is None:
            continue
        name = run.info["dataset"]
        if name not in tests:
            data = load_dataset(catalog, name, data_dir)
            tests[name] = TestSet(data.test_images, data.test_labels)
        predictions, n_classes = run.predictions, len(run.info["classes"])
        if predictions.shape != tests[name].labels.shape:
            raise RunError(
                f"{run.path / 'test_predictions.npy'} holds predictions of shape {predictions.shape}, "
                f"but {name} has {len(tests[name].labels):,} test images"
            )
        if (
            predictions.dtype.kind not in "iu"
            or predictions.min(initial=0) < 0
            or predictions.max(initial=0) >= n_classes
        ):
            raise RunError(f"{run.path / 'test_predictions.npy'} does not hold class numbers 0..{n_classes - 1}")
    return tests


def _figure_class() -> Callable:
    """matplotlib's Figure bound to an Agg canvas, or the install hint as a ZooError."""
    try:
        import matplotlib  # noqa: F401  (first: `from matplotlib.x import` alone can skip a blocked package)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ZooError(INSTALL_HINT) from None

    def figure(**options):
        created = Figure(**options)
        FigureCanvasAgg(created)
        return created

    return figure


def _colours(n: int) -> list:
    """``n`` distinguishable colours: tab10, then tab20 for up to 20 runs, then a continuous map."""
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    return [colormaps["viridis"](i / (n - 1)) for i in range(n)]


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _save(path: Path, data: bytes) -> Path:
    return write_atomic(path, lambda file: file.write(data))


def _number(value, template: str) -> str:
    return "—" if value is None else template.format(value)
