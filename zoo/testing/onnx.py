"""``check_layer``'s ONNX export check: a layer's ``to_onnx`` computes what its evaluation-mode ``forward`` does.

Only for a layer that defines ``to_onnx``, which is what ``zoo export`` asks each layer for. The
layer alone becomes a one-layer graph (:func:`zoo.onnx_export.layer_model`, checked as an
export is: valid nodes, the output shape ``build`` said), which onnx's pure-Python
``ReferenceEvaluator`` runs on a float32 batch and on one sample of it. Without the ``onnx``
package, or when ``to_onnx`` refuses the options checked (``NotImplementedError``), nothing is
compared and a :class:`zoo.testing.NotChecked` warning says so.
"""

import warnings

import numpy as np

from zoo.errors import ZooError, one_line
from zoo.onnx_export import INSTALL, NotExportable, layer_model
from zoo.testing.core import Subject
from zoo.testing.gradients import relative_difference
from zoo.testing.probe import Probe

CHECK = "the ONNX export check"
TOLERANCE = 1e-5
"""Allowed difference between the graph's output and float32 ``forward``'s, relative to the output's size."""


def check_export(subject: Subject, in_shape: tuple[int, ...], x: np.ndarray) -> None:
    """If the layer has ``to_onnx``: its graph gives ``forward(x, training=False)`` on the float32 batch ``x``.

    The layer is built in float32, its parameters are moved off their initial values and two
    training-mode forwards on ``x`` move its state (as training leaves them), so a ``to_onnx``
    that leaves out a bias or reads the wrong statistics fails. A ``to_onnx`` that raises, or
    whose graph is invalid, has other sample shapes than ``build`` said, cannot run or gives
    other values (beyond :data:`TOLERANCE`) fails with :class:`zoo.testing.ConformanceError`.
    """
    if not callable(getattr(subject.make(), "to_onnx", None)):
        return
    try:
        from onnx.reference import ReferenceEvaluator
    except ImportError:
        return _not_checked(subject, in_shape, f"the onnx package is not installed: {INSTALL}")
    probe = Probe(subject, in_shape, np.float32, seed=0)
    rng = np.random.default_rng(7)
    for p in probe.params:
        p.value += (0.05 * rng.standard_normal(p.value.shape)).astype(p.value.dtype)
    for _ in range(2):
        probe.layer.forward(x, True)
    where = f"layer {subject.name!r}"
    try:
        model = layer_model(probe.layer, in_shape, probe.out_shape, where)
    except NotExportable as error:  # a configuration the layer says it cannot export: nothing to compare
        return _not_checked(subject, in_shape, str(error).removeprefix(f"{where}: "))
    except ZooError as error:
        raise subject.fail(CHECK, str(error).removeprefix(f"{where}: ")) from error.__cause__
    try:
        evaluator = ReferenceEvaluator(model)
    except Exception as error:
        raise subject.fail(CHECK, f"onnx's reference evaluator cannot load its graph: {_text(error)}") from error
    for batch in (x, x[:1]):  # one sample too: a graph that fixes the batch size fails
        expected = probe.layer.forward(batch, False).copy()
        try:
            (got,) = evaluator.run(None, {"x": batch})
        except Exception as error:
            raise subject.fail(CHECK, f"onnx's reference evaluator cannot run its graph: {_text(error)}") from error
        got = np.asarray(got)
        if got.shape != expected.shape or got.dtype != np.float32:
            raise subject.fail(
                CHECK,
                f"on a float32 batch {list(batch.shape)} its graph gives {got.dtype}{list(got.shape)}, "
                f"but forward(x, training=False) gives float32{list(expected.shape)}",
            )
        difference = relative_difference(got, expected)
        if not difference <= TOLERANCE:
            raise subject.fail(
                CHECK,
                f"on a float32 batch {list(batch.shape)}, what onnx's reference evaluator computes from its graph "
                f"differs from forward(x, training=False) by {difference:.1e} of its size (tolerance "
                f"{TOLERANCE:.0e}): to_onnx must add what evaluation-mode forward computes",
            )


def _not_checked(subject: Subject, in_shape: tuple[int, ...], reason: str) -> None:
    """Warn that the export went unchecked, naming the call as the author wrote it."""
    from zoo.testing.package import NotChecked  # here: zoo.testing.package imports every check, this one too

    options = f", {subject.options!r}" if subject.options else ""
    call = f"check_layer({subject.name!r}{options}, in_shape={in_shape!r})"
    warnings.warn(NotChecked(f"{call} did not check its to_onnx: {reason}"), stacklevel=4)


def _text(error: Exception) -> str:
    return f"{type(error).__name__}: {one_line(error)}"
