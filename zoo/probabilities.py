"""A network's class probabilities, from its loss's ``probabilities(outputs)``, checked at the plugin boundary."""

import numpy as np

from zoo.errors import ConfigError, PluginError, one_line


def probabilities_of(loss: object, outputs: np.ndarray, where: str) -> np.ndarray:
    """``loss.probabilities(outputs)`` as a new float64 array ``(N, classes)``, checked; ``where`` names the loss
    in errors (``"x.toml: loss 'name'"``). A loss without them is a ConfigError; one that raises, or returns a
    wrong shape or a non-finite value, a PluginError."""
    probabilities = getattr(loss, "probabilities", None)
    if not callable(probabilities):
        raise ConfigError(
            f"{where} does not say how the network's outputs become probabilities "
            "(a loss plugin gives probabilities(outputs))"
        )
    try:
        result = np.array(probabilities(outputs), dtype=np.float64)
    except Exception as error:  # a plugin's bug: one line naming it
        raise PluginError(f"{where}: probabilities() raised {type(error).__name__}: {one_line(error)}") from None
    if result.shape != outputs.shape or not np.isfinite(result).all():
        raise PluginError(
            f"{where}: probabilities() returned "
            f"{'non-finite values' if result.shape == outputs.shape else f'shape {result.shape}'}, "
            f"not finite probabilities of shape {outputs.shape}"
        )
    return result
