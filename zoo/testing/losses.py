"""``check_loss``: the gradient of the loss with respect to the network output, in float64 and float32."""

import math
import numbers
from typing import Any

import numpy as np

from zoo.catalog import Catalog
from zoo.errors import ConfigError
from zoo.testing.core import Subject, global_random_state_untouched
from zoo.testing.gradients import gradient_error, numeric_gradient, relative_difference

ROWS = 6
CLASSES = 4
FLOAT32_TOLERANCE = 1e-4


def check_loss(
    name: str,
    options: dict[str, Any] | None = None,
    *,
    catalog: Catalog | None = None,
    output: str = "probabilities",
) -> None:
    """Check the loss ``name`` made with ``options``; raise ConformanceError on the first failure.

    The network outputs it is given are, with ``output="probabilities"``, rows of positive
    numbers summing to 1 (valid for any loss, logits included); with ``output="logits"``, any
    reals (normal, standard deviation 2), a stronger check for losses on logits. Labels are
    uint8, as training passes them.

    - ``forward`` returns a finite number, the same twice in a row, and leaves its input alone.
    - ``backward`` is the gradient of ``forward`` with respect to the output (central
      differences, float64, relative error below 1e-6), after a larger batch went through
      (so reused buffers are views).
    - float32 outputs give a float32 gradient that agrees with float64 to 1e-4.
    - Both hold on a batch and on one sample (online SGD), where a loss may take a path of its own.
    - It never touches numpy's global random state.
    """
    if output not in OUTPUTS:
        raise ConfigError(f"zoo.testing: loss {name!r}: output must be one of {', '.join(OUTPUTS)}, got {output!r}")
    subject = Subject.resolve("loss", name, options, catalog)
    draw = OUTPUTS[output]
    with global_random_state_untouched(subject, "the random state check"):
        for rows in (ROWS, 1):
            _check_gradient(subject, draw, rows)
            _check_float32(subject, draw, rows)


def _probabilities(rng: np.random.Generator, rows: int) -> np.ndarray:
    p = rng.uniform(0.2, 1.0, size=(rows, CLASSES))
    return p / p.sum(axis=1, keepdims=True)


def _logits(rng: np.random.Generator, rows: int) -> np.ndarray:
    return rng.normal(0.0, 2.0, size=(rows, CLASSES))


OUTPUTS = {"probabilities": _probabilities, "logits": _logits}


def _outputs(draw, rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Network outputs ``(rows, CLASSES)`` in float64 and uint8 labels."""
    return draw(rng, rows), rng.integers(0, CLASSES, rows).astype(np.uint8)


def _value(subject: Subject, check: str, loss: object, output: np.ndarray, labels: np.ndarray) -> float:
    value = loss.forward(output, labels)
    if not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise subject.fail(check, f"forward returned {value!r}, not a finite number")
    return float(value)


def _check_gradient(subject: Subject, draw, rows: int) -> None:
    check = f"the gradient check ({rows} row{'s' if rows > 1 else ''})"
    rng = np.random.default_rng(6)
    loss = subject.make()
    _value(subject, check, loss, *_outputs(draw, rng, ROWS + 3))
    loss.backward()

    output, labels = _outputs(draw, rng, rows)
    before = output.copy()
    value = _value(subject, check, loss, output, labels)
    if not np.array_equal(output, before):
        raise subject.fail(check, "forward changed the network output in place; training still reads it")
    grad = loss.backward()
    if isinstance(grad, np.ndarray) and grad.dtype != np.float64:
        raise subject.fail(check, f"for a float64 output backward returned {grad.dtype}")
    grad = grad.copy() if isinstance(grad, np.ndarray) else grad
    again = _value(subject, check, loss, output, labels)
    if again != value:
        raise subject.fail(check, f"forward gave {value!r}, then {again!r} for the same output and labels")
    problem = gradient_error(grad, numeric_gradient(lambda: _value(subject, check, loss, output, labels), output))
    if problem:
        raise subject.fail(check, f"the gradient backward returns: {problem}")


def _check_float32(subject: Subject, draw, rows: int) -> None:
    check = f"the float32 check ({rows} row{'s' if rows > 1 else ''})"
    output, labels = _outputs(draw, np.random.default_rng(7), rows)
    loss32, loss64 = subject.make(), subject.make()
    value32 = _value(subject, check, loss32, output.astype(np.float32), labels)
    value64 = _value(subject, check, loss64, output, labels)
    grad32, grad64 = loss32.backward(), loss64.backward()
    if not isinstance(grad32, np.ndarray) or grad32.dtype != np.float32 or grad32.shape != output.shape:
        got = f"{grad32.dtype}{list(grad32.shape)}" if isinstance(grad32, np.ndarray) else type(grad32).__name__
        raise subject.fail(check, f"for a float32 output backward returned {got}, expected float32{list(output.shape)}")
    for what, a, b in (("loss", value32, value64), ("gradient", grad32, grad64)):
        difference = relative_difference(a, b)
        if not difference <= FLOAT32_TOLERANCE:
            tolerance = f"tolerance {FLOAT32_TOLERANCE:.0e}"
            raise subject.fail(check, f"its float32 {what} differs from float64 by {difference:.1e} ({tolerance})")
