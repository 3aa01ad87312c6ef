"""Commands on registry entries: list, show, evaluate."""

import json
from typing import Annotated, Optional

import numpy as np
import typer
from rich.markup import escape

from zoo import evaluate as evaluation
from zoo.cli.app import DataDirOption, JsonOption, SetOption, columns, command, echo, err, print_json
from zoo.config import CLASSES, IMAGE_SHAPE, ModelEntry, create, resolved
from zoo.datasets import dataset_info
from zoo.entries import load_entry, survey_entries
from zoo.errors import ZooError
from zoo.loading import default_catalog
from zoo.network import Network, build_network
from zoo.schedule import learning_rates
from zoo.summary import architecture, layer_table
from zoo.test_time import recorded_shifts, short_label
from zoo.training import load_data
from zoo.weights import open_model, recorded


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
                rows.append(_broken(name, entry))
        elif tag is None or tag in entry.tags:
            try:
                shape = architecture(_network(entry, default_catalog()))
            except ZooError as error:
                rows.append(_broken(name, error))
                continue
            row = {"name": name, "architecture": shape, "tags": list(entry.tags), "weights": _weights(name)}
            rows.append(row | {"description": entry.description, "source": entry.source, "error": None})
    if as_json:
        return print_json(rows)
    cells = [
        [
            r["name"],
            "-".join(map(str, r["architecture"])),
            ",".join(r["tags"]),
            f"{r['weights']['test_accuracy']:.2%}{short_label(r['weights']['test_time_shifts'])}"
            if r["weights"]
            else "",
            r["description"] or "BROKEN",
        ]
        for r in rows
    ]
    echo(columns(["name", "architecture", "tags", "weights", "description"], cells))
    for row in rows:
        if row["error"]:
            err.print(f"[red]broken:[/red] {escape(row['error'])}", highlight=False, soft_wrap=True)


def _broken(name: str, error: ZooError) -> dict:
    return {"name": name, "architecture": [], "tags": [], "weights": None, "description": "", "error": str(error)}


def _weights(name: str) -> dict | None:
    """What ``zoo list`` says of an entry's shipped weights: their recorded accuracies, or None without any."""
    meta = recorded(name, default_catalog())
    if meta is None:
        return None
    keys = ("test_accuracy", "val_accuracy", "train_seconds", "trained")
    return {key: meta.get(key) for key in keys} | {"test_time_shifts": recorded_shifts(meta)}


@command()
def show(
    name: EntryArgument,
    overrides: SetOption = None,
    as_json: JsonOption = False,
):
    """Show an entry: a layer table (output shape per sample, parameters, multiply-adds) and its resolved config."""
    catalog = default_catalog()
    entry = load_entry(name, catalog, overrides or [])
    network = _network(entry, catalog)
    layers = layer_table(network, entry)
    rates = _learning_rates(entry, catalog)
    if as_json:
        config = resolved(entry, catalog)
        document = {"name": entry.name, "source": entry.source, "input": list(network.in_shape)}
        return print_json(document | {"config": config, "layers": layers, "learning_rates": rates})
    cells = [
        [
            str(i),
            layer["type"],
            _shape(layer["output"]),
            f"{layer['params']:,}",
            "" if layer["multiply_adds"] is None else f"{layer['multiply_adds']:,}",
            str(layer["lr"] or ""),
        ]
        for i, layer in enumerate(layers)
    ]
    known = [layer["multiply_adds"] for layer in layers if layer["multiply_adds"] is not None]
    total = f"{sum(known):,}" + ("" if len(known) == len(layers) else " + ?")
    cells.insert(0, ["", "input", _shape(network.in_shape), "", "", ""])
    cells.append(["", "total", "", f"{sum(layer['params'] for layer in layers):,}", total, ""])
    echo(f"{entry.name}  ({entry.source})\n{entry.description}\n")
    echo(columns(["#", "layer", "output", "params", "mult-adds", "lr"], cells) + "\n")
    if rates:
        points = ", ".join(f"{point['when']} {point['lr']:.4g}" for point in rates)
        echo(f"learning rate ({entry.schedule.type}): {points}\n")
    echo("resolved config (defaults filled in):")
    echo(json.dumps(resolved(entry, catalog), indent=2, ensure_ascii=False))


def _learning_rates(entry: ModelEntry, catalog) -> list[dict] | None:
    """The schedule's learning rate at a few points, for an entry with a schedule and an epoch budget."""
    if entry.schedule is None or entry.train.epochs is None:
        return None
    options = resolved(entry, catalog)["optimizer"]
    lr = options.get("lr") if isinstance(options.get("lr"), (int, float)) else None
    decay = options.get("decay", 1.0) if isinstance(options.get("decay"), (int, float)) else 1.0
    return learning_rates(create(entry.schedule, catalog), entry.train.epochs, lr, decay)


def _network(entry: ModelEntry, catalog) -> Network:
    """The entry's network built for the input its dataset declares, without reading any data.

    A dataset of contract 1 declares nothing: the shape of the built-in datasets is assumed.
    """
    info = dataset_info(catalog, entry.data.dataset)
    shape, classes = (IMAGE_SHAPE, CLASSES) if info is None else (info.shape, len(info.classes))
    return build_network(entry, catalog, shape, classes, np.random.SeedSequence(entry.train.seed))


def _shape(shape) -> str:
    return "(N, " + ", ".join(map(str, shape)) + ")"


@command()
def evaluate(
    model: Annotated[
        str,
        typer.Argument(
            help="A model file (zoo train --out), or an entry with shipped weights.", autocompletion=entry_names
        ),
    ],
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
):
    """Accuracy and confusion matrix of a saved model, or of an entry's shipped weights, on its test set."""
    catalog = default_catalog()
    network, entry, meta = open_model(model, catalog)
    data = load_data(entry, catalog, data_dir)
    predictions = evaluation.predict(network, data.test_images, entry=entry)
    matrix = evaluation.confusion_matrix(data.test_labels, predictions, len(data.classes))
    accuracy = float((predictions == data.test_labels).mean())
    shifts = entry.test_time.shifts
    single_view = float((evaluation.predict(network, data.test_images) == data.test_labels).mean()) if shifts else None
    recorded, recorded_with = meta.get("test_accuracy"), recorded_shifts(meta)
    if as_json:
        document = {"name": entry.name, "test_accuracy": accuracy, "recorded_test_accuracy": recorded}
        document |= {"test_time_shifts": shifts, "recorded_test_time_shifts": recorded_with}
        if shifts:
            document |= {"single_view_test_accuracy": single_view}
        return print_json(document | {"confusion_matrix": matrix.tolist()})
    views = f", averaged with its {shifts} one-pixel shifts ({single_view:.2%} on each image alone)" if shifts else ""
    note = "" if recorded is None else f" (recorded in the file: {recorded:.2%}{_shifts_note(recorded_with, shifts)})"
    echo(f"{entry.name}: test accuracy {accuracy:.2%} on {len(predictions):,} images{views}{note}")
    echo("confusion matrix (rows: true class, columns: predicted)")
    echo(columns(["", *data.classes], [[label, *map(str, row)] for label, row in zip(data.classes, matrix)]))


def _shifts_note(recorded: int | None, now: int) -> str:
    """Says so when the recorded figure was measured with other test-time shifts than the entry's today."""
    if recorded == now:
        return ""
    if recorded is None:
        return ", with test-time shifts the file does not record readably"  # as shifts_label(None) says
    return f" with {recorded} test-time shifts" if recorded else " without test-time shifts"
