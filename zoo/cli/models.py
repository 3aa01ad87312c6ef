"""Commands on registry entries: list, show, evaluate."""

import json
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.markup import escape

from zoo import evaluate as evaluation
from zoo import modelfile
from zoo.cli.app import DataDirOption, JsonOption, SetOption, columns, command, echo, err, print_json
from zoo.config import CLASSES, IMAGE_FEATURES, resolved
from zoo.errors import ZooError
from zoo.network import build_network
from zoo.plugins import default_catalog
from zoo.registry import load_entry, survey_entries
from zoo.train import load_data


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
