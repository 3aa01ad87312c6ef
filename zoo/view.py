"""How a model looks in a terminal (``repr``) and in a notebook (``_repr_html_``): layers, metrics, curves."""

import base64
import html
import io
from typing import Any

from zoo.test_time import recorded_shifts, shifts_label


def model_text(model) -> str:
    """``Model('lenet-5', 61,706 parameters, trained: test accuracy 99.28 %, validation 99.10 %)``."""
    return f"Model({model.name!r}, {model.params:,} parameters, {_status(model.meta)})"


def _status(meta: dict[str, Any]) -> str:
    if "test_accuracy" not in meta:
        return "untrained"
    parts = [f"test accuracy {_percent(meta['test_accuracy'])}{shifts_label(recorded_shifts(meta))}"]
    if meta.get("val_accuracy") is not None:
        parts.append(f"validation {_percent(meta['val_accuracy'])}")
    return "trained: " + ", ".join(parts)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.2%}".replace("%", " %")


def model_html(model) -> str:
    """A heading, the layer table, the recorded metrics, and learning curves when matplotlib is installed."""
    rows = [
        ["input", _shape(model.in_shape), "", ""],
        *(
            [layer["type"], _shape(layer["output"]), f"{layer['params']:,}", _number(layer["multiply_adds"])]
            for layer in model.layers()
        ),
    ]
    parts = [
        f"<h4>{html.escape(model.name)}</h4>",
        f"<p>{html.escape(model.entry.description)} {html.escape(_status(model.meta))}; "
        f"{model.params:,} parameters</p>",
        table(["layer", "output", "params", "mult-adds"], rows),
    ]
    metrics = {key: model.meta[key] for key in RECORDED if key in model.meta}
    if metrics:
        parts.append(table(["recorded", ""], [[key, _value(key, value)] for key, value in metrics.items()]))
    curves = curves_png(model.history)
    if curves:
        parts.append(f'<img alt="learning curves" src="data:image/png;base64,{curves}">')
    return "\n".join(parts)


RECORDED = (
    "test_accuracy",
    "test_time",
    "val_accuracy",
    "train_seconds",
    "seed",
    "dataset",
    "trained",
    "zoo_version",
    "recipe",
)
"""The metadata keys shown, in this order."""


def table(header: list[str], rows: list[list[Any]]) -> str:
    """An HTML table with escaped cells."""
    head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def curves_png(history: list[dict[str, Any]]) -> str | None:
    """Loss and accuracy per epoch as a base64 PNG, or None without matplotlib or with under two log points."""
    if len(history) < 2:
        return None
    try:
        from matplotlib.figure import Figure  # no pyplot: a notebook's backend is left alone
    except ImportError:
        return None
    figure = Figure(figsize=(8, 3))
    epochs = [record["epoch"] for record in history]
    for axes, metric, label in zip(figure.subplots(1, 2), ("loss", "accuracy"), ("loss", "accuracy")):
        train_key = "loss" if metric == "loss" else "train_accuracy"
        axes.plot(epochs, [r[train_key] for r in history], label="training")
        if history[0].get(f"val_{metric}") is not None:
            axes.plot(epochs, [r[f"val_{metric}"] for r in history], label="validation")
        axes.set_xlabel("epoch")
        axes.set_ylabel(label)
        axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _shape(shape) -> str:
    return "(N, " + ", ".join(map(str, shape)) + ")"


def _number(value) -> str:
    return "" if value is None else f"{value:,}"


def _value(key: str, value) -> str:
    if key.endswith("accuracy"):
        return _percent(value)
    if key.endswith("seconds"):
        return f"{value:.1f} s"
    return str(value)
