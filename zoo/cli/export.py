"""``zoo export``: a trained model as a file other runtimes read (ONNX)."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo.cli.app import JsonOption, command, echo, print_json
from zoo.datasets import dataset_info
from zoo.errors import UnknownNameError
from zoo.loading import default_catalog
from zoo.weights import open_model

FORMATS = ("onnx",)


@command("export")
def export_command(
    model: Annotated[
        str, typer.Argument(help="A model file written by zoo train --out, or an entry name with shipped weights.")
    ],
    format: Annotated[str, typer.Option("--format", help="File format: onnx.")] = "onnx",
    out: Annotated[
        Optional[Path], typer.Option(help="File to write (default: MODEL's name with the format's suffix, here).")
    ] = None,
    as_json: JsonOption = False,
):
    """Export a trained model: an ONNX graph from images (N, C, H, W) in [0, 1] to class probabilities (N, classes)."""
    if format not in FORMATS:
        raise UnknownNameError("export format", format, FORMATS)
    from zoo import onnx_export  # here, not at the top: only exporting needs it

    catalog = default_catalog()
    network, entry, _ = open_model(model, catalog)
    info = dataset_info(catalog, entry.data.dataset)
    path = out if out is not None else Path(f"{Path(model).stem}.{format}")
    onnx_export.export(network, entry, path, list(info.classes) if info else [])
    dtype = onnx_export.DTYPE.name
    inputs = {"name": onnx_export.INPUT, "shape": ["N", *network.in_shape], "dtype": dtype}
    outputs = {"name": onnx_export.OUTPUT, "shape": ["N", *network.shapes[-1]], "dtype": dtype}
    shifts = entry.test_time.shifts
    if as_json:
        document = {"name": entry.name, "path": str(path), "format": format, "opset": onnx_export.OPSET}
        left_out = {"test_time_shifts_left_out": shifts} if shifts else {}
        return print_json(document | {"input": inputs, "output": outputs} | left_out)
    echo(f"{path}: {entry.name} as ONNX (opset {onnx_export.OPSET}): {_tensor(inputs)} in [0, 1] -> {_tensor(outputs)}")
    if shifts:
        echo(f"note: the file holds the network alone; {entry.name}'s {shifts} test-time shifts are not in it")


def _tensor(tensor: dict) -> str:
    """``images float32 (N, 1, 28, 28)``."""
    return f"{tensor['name']} {tensor['dtype']} ({', '.join(map(str, tensor['shape']))})"
