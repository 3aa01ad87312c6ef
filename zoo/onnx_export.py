"""Exporting a network to ONNX: ``images`` ``(N, *in_shape)`` in [0, 1] in, ``probabilities`` ``(N, classes)`` out.

Each layer adds its own part of the graph: a layer class that defines ``to_onnx(graph, x) -> y``
(``graph`` an :class:`OnnxGraph`, ``x`` and ``y`` tensor names) exports itself, zoo's built-in
layers as a third-party layer does; a network with a layer that has none is refused. A
contract-1 layer gets its input flattened first, as when it runs. Every layer exports its
evaluation-mode computation (dropout is the identity, batch norm uses its running statistics),
and the graph ends in a softmax over the logits, unless the network's last layer is a
``softmax`` already.

The graph is float32 whatever the network's dtype: what ONNX runtimes run (onnxruntime has no
float64 convolution), and a float64 network's probabilities move by about 1e-7. It uses the
standard operators of opset :data:`OPSET` in a file of IR version :data:`IR_VERSION`, which
onnxruntime 1.13 and later read. Before writing, the graph is checked and its shapes inferred:
a layer whose part gives other sample shapes than its ``build`` said is refused. The package
``onnx`` is needed for exporting only, so it is imported then.
"""

import json
import math
import os
import re
from pathlib import Path

import attrs
import numpy as np

import zoo
from zoo.atomic import write_atomic
from zoo.config import ModelEntry
from zoo.errors import PluginError, ZooError, one_line
from zoo.layers import FlatLayer
from zoo.network import Network

OPSET = 17
"""The version of the standard ONNX operators the graph uses."""
IR_VERSION = 8
"""The ONNX file format version, the one of opset 17."""
INPUT, OUTPUT = "images", "probabilities"
DTYPE = np.dtype(np.float32)
"""The element type of every floating tensor of the graph, the network's dtype or not."""
INSTALL = "pip install 'numpy-zoo[onnx]'"


class ExportError(ZooError):
    """A network that cannot be exported, or an export that cannot be written."""


class NotExportable(ExportError):
    """A layer that does not export: it has no ``to_onnx``, or its ``to_onnx`` refuses its configuration."""


@attrs.define(eq=False)
class OnnxGraph:
    """What a layer's ``to_onnx(graph, x) -> y`` builds its part of the graph with.

    ``x`` names the layer's input tensor, ``(N, *graph.in_shape)``; ``to_onnx`` adds initializers
    (:meth:`constant`) and nodes (:meth:`node`) and returns the name of its output tensor, which must
    be ``(N, *graph.out_shape)`` (returning ``x`` itself is fine for a layer that is the identity at
    evaluation). It raises ``NotImplementedError("why")`` for a configuration it cannot export.
    """

    in_shape: tuple[int, ...] = ()
    """The per-sample shape of the layer's input, as ``build`` got it (a contract-1 layer's: ``(features,)``)."""
    out_shape: tuple[int, ...] = ()
    """The per-sample shape the layer's output must have: what ``build`` returned."""
    opset: int = OPSET
    """The version of the standard ONNX operators (default domain) available."""
    dtype: np.dtype = DTYPE
    """The element type of every floating tensor: float32."""
    _onnx: object = None
    _place: str = ""
    _nodes: list = attrs.field(factory=list)
    _initializers: list = attrs.field(factory=list)
    _tensors: set = attrs.field(factory=lambda: {INPUT})

    def constant(self, name: str, array: np.ndarray) -> str:
        """Add ``array`` as an initializer named after the layer (``W`` of layer 3: ``layers.3.W``); return its name.

        A floating array is stored as :attr:`dtype`; integer ones (shapes for ``Reshape``: int64) as they are.
        """
        array = np.asarray(array)
        if np.issubdtype(array.dtype, np.floating):
            array = array.astype(self.dtype)
        unique = self._unique(f"{self._place}.{name}")
        self._initializers.append(self._onnx.numpy_helper.from_array(array, unique))
        return unique

    def node(self, op_type: str, inputs: list[str], **attributes) -> str:
        """Add a node of the standard operator ``op_type`` on the tensors ``inputs``; return the name of its output.

        ``""`` in ``inputs`` leaves an optional input out; ``attributes`` are ints, floats, strings or
        lists of them (``kernel_shape=[3, 3]``). For an operator with several outputs, this is the first.
        """
        unknown = [name for name in inputs if name and name not in self._tensors]
        if unknown:
            raise ValueError(f"{op_type} node: {unknown} are not tensors of the graph: constant() and node() name them")
        return self._add(op_type, inputs, self._unique(f"{self._place}/{op_type}"), attributes)

    def _add(self, op_type: str, inputs: list[str], output: str, attributes: dict) -> str:
        self._nodes.append(self._onnx.helper.make_node(op_type, list(inputs), [output], name=output, **attributes))
        self._tensors.add(output)
        return output

    def _unique(self, name: str) -> str:
        candidate, count = name, 1
        while candidate in self._tensors:
            candidate, count = f"{name}_{count}", count + 1
        self._tensors.add(candidate)
        return candidate

    def _enter(self, place: str, in_shape: tuple, out_shape: tuple) -> None:
        """Make the next nodes and initializers those of the layer at ``place`` (``layers.3``)."""
        self._place, self.in_shape, self.out_shape = place, tuple(in_shape), tuple(out_shape)


def export(network: Network, entry: ModelEntry, path: str | os.PathLike, classes: list[str] = ()) -> Path:
    """Write ``network`` (built from ``entry``) to ``path`` as an ONNX file, atomically: nothing written on failure.

    ``classes``, the dataset's class names, go into the file's metadata (``classes``, a JSON list).
    """
    path = Path(path)
    if path.is_dir():
        raise ExportError(f"{path}: is a directory; give a file name such as {path / (entry.name + '.onnx')}")
    data = to_onnx_model(network, entry, classes).SerializeToString()
    try:
        return write_atomic(path, lambda f: f.write(data))
    except OSError as error:
        raise ExportError(f"{path}: cannot write the ONNX file: {one_line(error)}") from None


def to_onnx_model(network: Network, entry: ModelEntry, classes: list[str] = ()):
    """``network`` as a checked ``onnx.ModelProto``: a ZooError names the first layer that cannot be exported."""
    onnx = _require_onnx()
    graph = OnnxGraph(onnx=onnx)
    x, produced = INPUT, []
    for i, layer in enumerate(network.layers):
        graph._enter(f"layers.{i}", network.shapes[i], network.shapes[i + 1])
        x = _convert(layer, graph, x, network.where[i])
        produced.append(x)
    graph._enter("output", network.shapes[-1], network.shapes[-1])
    if entry.layers[-1].ref.type == "softmax":
        graph._add("Identity", [x], OUTPUT, {})
    else:
        graph._add("Softmax", [x], OUTPUT, {"axis": 1})
    images = _tensor(onnx, INPUT, network.in_shape, "pixel values in [0, 1]")
    probabilities = _tensor(onnx, OUTPUT, network.shapes[-1], "class probabilities")
    model = _model(onnx, graph, entry.name, entry.description, images, probabilities)
    metadata = {"entry": entry.name} | ({"classes": json.dumps(list(classes))} if classes else {})
    onnx.helper.set_model_props(model, metadata)
    _check(onnx, model, produced, network.shapes[1:], network.where, entry.name)
    return model


def layer_model(layer: object, in_shape: tuple[int, ...], out_shape: tuple[int, ...], where: str):
    """``layer`` alone, built for samples of ``in_shape``, as a checked ``onnx.ModelProto`` from ``x`` to ``y``.

    ``x`` is ``(N, *in_shape)`` and ``y``, the layer's evaluation-mode output, ``(N, *out_shape)``
    (``out_shape`` what ``build`` returned); a contract-1 layer comes wrapped in its
    :class:`zoo.layers.FlatLayer`, as networks run it. :mod:`zoo.testing` checks ``to_onnx`` with it.
    The errors are :func:`to_onnx_model`'s, with ``where`` naming the layer; a layer without
    ``to_onnx``, or whose ``to_onnx`` refuses, is a :class:`NotExportable`.
    """
    onnx = _require_onnx()
    graph = OnnxGraph(onnx=onnx, tensors={"x"})
    graph._enter("layers.0", in_shape, out_shape)
    y = _convert(layer, graph, "x", where)
    graph._enter("output", out_shape, out_shape)
    graph._add("Identity", [y], "y", {})
    x_info, y_info = _tensor(onnx, "x", in_shape, "the layer's input"), _tensor(onnx, "y", out_shape, "its output")
    model = _model(onnx, graph, "layer", where, x_info, y_info)
    _check(onnx, model, [y], [tuple(out_shape)], [where], where)
    return model


def _tensor(onnx, name: str, shape: tuple[int, ...], doc: str):
    """The description of a graph input or output: :data:`DTYPE` ``(N, *shape)``, any batch size ``N``."""
    return onnx.helper.make_tensor_value_info(name, onnx.helper.np_dtype_to_tensor_dtype(DTYPE), ["N", *shape], doc)


def _model(onnx, graph: OnnxGraph, name: str, doc: str, x, y):
    """The model of ``graph``'s nodes and initializers, from the input ``x`` to the output ``y``."""
    helper = onnx.helper
    proto = helper.make_graph(graph._nodes, name, [x], [y], graph._initializers, doc_string=doc)
    return helper.make_model(
        proto,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="zoo",
        producer_version=zoo.__version__,
    )


def _convert(layer: object, graph: OnnxGraph, x: str, where: str) -> str:
    """The output of ``layer``'s part of the graph, which the layer's own ``to_onnx`` adds."""
    inner = layer.layer if isinstance(layer, FlatLayer) else layer
    convert = getattr(inner, "to_onnx", None)
    name = f"{type(inner).__module__}.{type(inner).__qualname__}"
    if not callable(convert):
        raise NotExportable(
            f"{where}: cannot export to ONNX: the layer class {name} has no to_onnx(graph, x) method; "
            "implement it to export this layer (see 'Exporting to ONNX' in docs/plugins.md)"
        )
    if inner is not layer and len(graph.in_shape) > 1:  # a contract-1 layer runs on flattened input
        x = graph.node("Flatten", [x], axis=1)
        graph.in_shape = (math.prod(graph.in_shape),)
    try:
        y = convert(graph, x)
    except NotImplementedError as error:
        raise NotExportable(f"{where}: cannot export to ONNX: {one_line(error)}") from None
    except ZooError:
        raise
    except Exception as error:  # a plugin's bug: one line naming it, the cause kept for its author
        raise PluginError(f"{where}: {name}.to_onnx raised {type(error).__name__}: {one_line(error)}") from error
    if not isinstance(y, str) or y not in graph._tensors:
        raise PluginError(f"{where}: {name}.to_onnx returned {y!r}, not the name of a tensor of the graph")
    return y


def _check(onnx, model, produced: list[str], shapes: list[tuple], where: list[str], name: str) -> None:
    """Check ``model`` and infer its shapes; layer ``i``'s output ``produced[i]`` must have samples of ``shapes[i]``.

    ``where[i]`` names layer ``i`` (its nodes are ``layers.<i>/...``) and ``name`` the whole graph, in errors.
    Shapes are inferred without the declared output shape, so that a last layer of the wrong shape is
    named as any other, rather than the output node that meets it.
    """
    unshaped = onnx.ModelProto()
    unshaped.CopyFrom(model)
    for output in unshaped.graph.output:
        output.type.tensor_type.ClearField("shape")
    try:
        onnx.checker.check_model(model)
        inferred = onnx.shape_inference.infer_shapes(unshaped, check_type=True, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        text = one_line(error)
        node = re.search(r"\blayers\.(\d+)/", text)  # onnx names the first bad node: the layer that made it
        if node:
            raise PluginError(f"{where[int(node[1])]}: its ONNX part is invalid: {text}") from None
        raise ExportError(f"{name}: the exported ONNX graph is invalid: {text}") from None
    inferred_shapes = {
        info.name: info.type.tensor_type.shape
        for info in [*inferred.graph.value_info, *inferred.graph.input]
        if info.type.tensor_type.HasField("shape")
    }
    for i, tensor in enumerate(produced):
        dims = inferred_shapes[tensor].dim if tensor in inferred_shapes else []
        got = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims[1:])
        if dims and None not in got and got != shapes[i]:
            raise PluginError(f"{where[i]}: its ONNX part gives samples of shape {got}, but build said {shapes[i]}")


def _require_onnx():
    """The ``onnx`` module, or one line telling how to install it."""
    try:
        import onnx
    except ImportError:
        raise ExportError(f"exporting to ONNX needs the onnx package, which is not installed: {INSTALL}") from None
    return onnx
