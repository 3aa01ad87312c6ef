"""The ``predict`` command: a model's most probable classes for a user's own images, prepared as its dataset was."""

from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from zoo import images
from zoo.cli.app import JsonOption, command, echo, err, print_json
from zoo.cli.models import entry_names
from zoo.datasets import DatasetInfo, dataset_info
from zoo.errors import UnknownNameError
from zoo.loading import default_catalog
from zoo.model import Model
from zoo.weights import open_model


@command("predict")
def predict_command(
    model: Annotated[
        str,
        typer.Argument(
            help="A registry entry with shipped weights, or a model file written by zoo train --out.",
            autocompletion=entry_names,
        ),
    ],
    paths: Annotated[
        list[Path],
        typer.Argument(help="Image files (PNG, JPEG, ...), each of one handwritten digit or one piece of clothing."),
    ],
    top: Annotated[int, typer.Option("--top", min=1, help="Classes shown per image, most probable first.")] = 3,
    style: Annotated[
        Optional[str],
        typer.Option(
            help="Prepare the images as digits (as MNIST was made) or fashion (as Fashion-MNIST); "
            "default: the style of the model's dataset, digit for datasets other than fashion-mnist."
        ),
    ] = None,
    show_input: Annotated[
        Optional[Path],
        typer.Option(
            "--show-input",
            help="Write the 28 x 28 image the model saw to this PNG file; "
            "for several images one file each, numbered: FILE-1.png, FILE-2.png, ...",
        ),
    ] = None,
    as_json: JsonOption = False,
):
    """Classify your own images of digits or clothing: the top classes and their probabilities, per image."""
    catalog = default_catalog()
    network, entry, meta = open_model(model, catalog)
    info = _declared(catalog, entry.data.dataset)
    chosen = images.style_for(entry.data.dataset, network.in_shape if info is None else info.shape, style)
    prepared = np.stack([_prepared(path, chosen) for path in paths])
    count = network.shapes[-1][0]
    numbers = tuple(str(n) for n in range(count))
    classes = info.classes if info is not None and len(info.classes) == count else numbers
    probabilities = Model(network, entry, classes, meta, catalog).predict_proba(prepared)
    shown = _input_files(show_input, len(paths)) if show_input else [None] * len(paths)
    for target, image in zip(shown, prepared):
        if target is not None:
            images.write_png(target, image)
    results = [
        {"image": str(path), "top": _top(row, classes, top), "input": None if target is None else str(target)}
        for path, row, target in zip(paths, probabilities, shown)
    ]
    if as_json:
        return print_json({"model": entry.name, "dataset": entry.data.dataset, "style": chosen, "images": results})
    for result in results:
        echo(f"{result['image']}: " + ", ".join(f"{c['class']} {c['probability']:.1%}" for c in result["top"]))
    for target in filter(None, shown):
        err.print(f"wrote {target}", markup=False, highlight=False)


def _declared(catalog, dataset: str) -> DatasetInfo | None:
    """What the model's dataset declares; None for a contract-1 dataset or one whose plugin is not installed here."""
    try:
        return dataset_info(catalog, dataset)
    except UnknownNameError:
        return None


def _prepared(path: Path, style: str) -> np.ndarray:
    """The image at ``path`` as the model takes it; a problem is one line naming the file."""
    gray = images.read_image(path)
    try:
        return images.prepare(gray, style)
    except images.ImageError as error:
        raise images.ImageError(f"{path}: {error}") from None


def _top(row: np.ndarray, classes: tuple[str, ...], k: int) -> list[dict]:
    """The ``k`` most probable classes of one image, most probable first."""
    order = np.argsort(-row, kind="stable")[:k]
    return [{"class": classes[i], "index": int(i), "probability": float(row[i])} for i in order]


def _input_files(path: Path, count: int) -> list[Path]:
    """Where ``--show-input`` writes: ``path`` itself for one image, else ``path`` numbered from 1 before its suffix."""
    if count == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{i}{path.suffix or '.png'}") for i in range(1, count + 1)]
