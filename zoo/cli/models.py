"""Commands on registry entries: list, show, train, evaluate, compare."""

import json
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from zoo import evaluate as evaluation
from zoo import modelfile
from zoo.cli.app import DataDirOption, JsonOption, SeedOption, SetOption, columns, command, echo, err, print_json
from zoo.config import CLASSES, IMAGE_FEATURES, resolved
from zoo.errors import UnknownNameError, ZooError
from zoo.network import build_network
from zoo.plugins import default_catalog
from zoo.registry import load_entry, matching, survey_entries
from zoo.train import LogRecord, load_data, load_splits, train


def entry_names(incomplete: str) -> list[str]:
    """Shell completion: the registry entries starting with what has been typed."""
    return [name for name in default_catalog().names("model") if name.startswith(incomplete)]


EntryArgument = Annotated[
    str,
    typer.Argument(help="Registry entry name, or a path to an entry's .toml file.", autocompletion=entry_names),
]


@command("list")
def list_command(
    pattern: Annotated[Optional[str], typer.Argument(help="Wildcard filter on names, e.g. 'seed-*'.")] = None,
    tag: Annotated[Optional[str], typer.Option(help="Only entries with this tag (seed, tuned, ...).")] = None,
    as_json: JsonOption = False,
):
    """List registry entries: name, architecture, tags, description and source; broken entries with their error."""
    rows = []
    for name, entry in survey_entries(default_catalog(), pattern):
        if isinstance(entry, ZooError):
            if tag is None:
                rows.append({"name": name, "architecture": [], "tags": [], "description": "", "error": str(entry)})
        elif tag is None or tag in entry.tags:
            row = {"name": name, "architecture": entry.architecture, "tags": list(entry.tags)}
            rows.append(row | {"description": entry.description, "source": entry.source, "error": None})
    if as_json:
        return print_json(rows)
    cells = [
        [r["name"], "-".join(map(str, r["architecture"])), ",".join(r["tags"]), r["description"] or "BROKEN"]
        for r in rows
    ]
    echo(columns(["name", "architecture", "tags", "description"], cells))
    for row in rows:
        if row["error"]:
            err.print(f"[red]broken:[/red] {escape(row['error'])}", highlight=False, soft_wrap=True)


@command()
def show(
    name: EntryArgument,
    overrides: SetOption = None,
    as_json: JsonOption = False,
):
    """Show an entry: its resolved config and a layer table with output widths and parameter counts.

    Widths assume 28x28 images and 10 classes, the shape of every built-in dataset.
    """
    catalog = default_catalog()
    entry = load_entry(name, catalog, overrides or [])
    network = build_network(entry, catalog, IMAGE_FEATURES, CLASSES, np.random.SeedSequence(entry.train.seed))
    layers = [
        {"type": spec.ref.type, "output": width, "params": sum(p.value.size for p in layer.params()), "lr": spec.lr}
        for spec, layer, width in zip(entry.layers, network.layers, network.widths[1:])
    ]
    if as_json:
        config = resolved(entry, catalog)
        return print_json({"name": entry.name, "source": entry.source, "config": config, "layers": layers})
    cells = [
        [str(i), layer["type"], f"(N, {layer['output']})", f"{layer['params']:,}", str(layer["lr"] or "")]
        for i, layer in enumerate(layers)
    ]
    cells.append(["", "total", "", f"{sum(layer['params'] for layer in layers):,}", ""])
    echo(f"{entry.name}  ({entry.source})\n{entry.description}\n")
    echo(columns(["#", "layer", "output", "params", "lr"], cells) + "\n")
    echo("resolved config (defaults filled in):")
    echo(json.dumps(resolved(entry, catalog), indent=2, ensure_ascii=False))


@command("train")
def train_command(
    name: EntryArgument,
    overrides: SetOption = None,
    seed: SeedOption = None,
    data_dir: DataDirOption = None,
    output: Annotated[Optional[Path], typer.Option("--out", help="Save the trained model to this .npz file.")] = None,
    as_json: JsonOption = False,
):
    """Train an entry on its dataset and report test accuracy."""
    catalog = default_catalog()
    entry = load_entry(name, catalog, overrides or [])
    if output is not None:
        modelfile.check_writable(output)  # before training, not after minutes of it
    network, result, splits = _train_with_progress(entry, catalog, seed, data_dir)
    if output is not None:
        modelfile.save(
            output,
            network,
            entry,
            in_features=splits.in_features,
            n_classes=len(splits.classes),
            meta={"seed": result.seed, "test_accuracy": result.test_accuracy, "train_seconds": result.train_seconds},
        )
        err.print(f"saved {output}", markup=False, highlight=False)
    if as_json:
        return print_json(result.summary())
    val = "" if result.val_accuracy is None else f", validation accuracy {result.val_accuracy:.2%}"
    echo(
        f"{entry.name}: test accuracy {result.test_accuracy:.2%}{val} "
        f"({result.params:,} parameters, {result.train_seconds:.1f} s training, seed {result.seed})"
    )


@command()
def evaluate(
    path: Annotated[Path, typer.Argument(help="A model file written by zoo train --out.")],
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
):
    """Accuracy and confusion matrix of a saved model on its dataset's test set."""
    catalog = default_catalog()
    network, entry, _ = modelfile.load(path, catalog)
    data = load_data(entry, catalog, data_dir)
    predictions = evaluation.predict(network, data.test_images)
    matrix = evaluation.confusion_matrix(data.test_labels, predictions, len(data.classes))
    accuracy = float((predictions == data.test_labels).mean())
    if as_json:
        return print_json({"name": entry.name, "test_accuracy": accuracy, "confusion_matrix": matrix.tolist()})
    echo(f"{entry.name}: test accuracy {accuracy:.2%} on {len(predictions):,} images")
    echo("confusion matrix (rows: true class, columns: predicted)")
    echo(columns(["", *data.classes], [[label, *map(str, row)] for label, row in zip(data.classes, matrix)]))


@command()
def compare(
    names: Annotated[
        list[str], typer.Argument(help="Entry names or wildcards, e.g. 'seed-*'.", autocompletion=entry_names)
    ],
    overrides: SetOption = None,
    seed: Annotated[int, typer.Option(min=0, help="One seed for every contender.")] = 0,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
):
    """Train several entries on the same data with the same seed and tabulate the results."""
    catalog = default_catalog()
    selected = _expand(names, catalog.names("model"))
    results = []
    for name in selected:
        entry = load_entry(name, catalog, overrides or [])
        results.append(_train_with_progress(entry, catalog, seed, data_dir)[1])
    if as_json:
        return print_json([r.summary() for r in results])
    best = max(r.test_accuracy for r in results)
    cells = [
        [
            r.name,
            f"{r.test_accuracy:.2%}" + (" *" if r.test_accuracy == best else ""),
            "—" if r.val_accuracy is None else f"{r.val_accuracy:.2%}",
            f"{r.params:,}",
            f"{r.train_seconds:.1f}",
        ]
        for r in results
    ]
    echo(columns(["name", "test accuracy", "validation accuracy", "params", "train seconds"], cells))
    echo("* best test accuracy")


def _train_with_progress(entry, catalog, seed, data_dir):
    """Load the entry's data, then train it with a progress bar and per-epoch log lines on stderr."""
    splits = load_splits(entry, catalog, seed, data_dir)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(entry.name, total=None)

        def on_step(step: int, total: int) -> None:
            progress.update(task, completed=step, total=total)

        def on_log(record: LogRecord) -> None:
            val = "" if record.val_accuracy is None else f"  val acc {record.val_accuracy:.4f}"
            progress.console.print(
                f"{entry.name}  epoch {record.epoch:6.2f}  step {record.step:7d}  loss {record.loss:.4f}"
                f"  train acc {record.train_accuracy:.4f}{val}  {record.seconds:7.1f} s",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )

        network, result = train(entry, splits, catalog, seed, on_log=on_log, on_step=on_step)
    return network, result, splits


def _expand(patterns: list[str], names: list[str]) -> list[str]:
    """Entry names matching each pattern, in order; a pattern matching nothing is an unknown name."""
    selected = []
    for pattern in patterns:
        matches = matching(names, pattern) or ([pattern] if pattern.endswith(".toml") else [])
        if not matches:
            raise UnknownNameError("model", pattern, names)
        selected.extend(m for m in matches if m not in selected)
    return selected
