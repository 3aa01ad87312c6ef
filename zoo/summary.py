"""What a built network looks like, without data: a layer table and a one-line architecture."""

import math
from typing import Any

from zoo.config import ModelEntry
from zoo.layers import FlatLayer
from zoo.network import Network


def layer_table(network: Network, entry: ModelEntry) -> list[dict[str, Any]]:
    """One row per layer: type, per-sample output shape, parameter count, multiply-adds per sample, own lr.

    Multiply-adds come from a layer's optional ``multiply_adds()``; None where a layer has none.
    """
    rows = []
    for spec, layer, shape in zip(entry.layers, network.layers, network.shapes[1:]):
        rows.append(
            {
                "type": spec.ref.type,
                "output": list(shape),
                "params": sum(p.value.size for p in layer.params()),
                "multiply_adds": _multiply_adds(layer),
                "lr": spec.lr,
            }
        )
    return rows


def architecture(network: Network) -> list[int | str]:
    """The input, then the output of each layer that changes the size or mixes values (more than one
    multiply-add per output value: dense, convolution): ``[784, 512, 10]`` for an MLP,
    ``["1x28x28", "6x28x28", "6x14x14", ..., 120, 84, 10]`` for a CNN.

    Flat shapes are ints and others ``CxHxW`` strings; an input that the first listed layer
    reads flat (a dense layer) is shown flat, as its width.
    """
    shapes, listed = network.shapes, []
    for layer, before, shape in zip(network.layers, shapes, shapes[1:]):
        size = math.prod(shape)
        if size != math.prod(before) or (_multiply_adds(layer) or 0) > size:
            listed.append(shape)
    first = shapes[0] if not listed or len(listed[0]) > 1 else (math.prod(shapes[0]),)
    return [_shape(s) for s in [first, *listed]]


def _multiply_adds(layer) -> int | None:
    count = getattr(layer.layer if isinstance(layer, FlatLayer) else layer, "multiply_adds", None)
    return None if count is None else int(count())


def _shape(shape: tuple[int, ...]) -> int | str:
    return shape[0] if len(shape) == 1 else "x".join(map(str, shape))
