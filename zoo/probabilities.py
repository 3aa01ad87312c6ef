"""A network's class probabilities, from its loss's ``probabilities(outputs)``, checked at the plugin boundary."""

from typing import TYPE_CHECKING

import numpy as np

from zoo.errors import ConfigError, PluginError

if TYPE_CHECKING:  # zoo.network imports the config, which imports the test-time settings that use this module
    from zoo.network import Network


def probabilities_of(network: "Network", outputs: np.ndarray, loss: str) -> np.ndarray:
    """The probabilities ``(N, classes)`` of ``outputs`` as a new float64 array; ``loss`` names the loss in errors
    (``"x.toml: loss 'name'"``). A loss without them is a ConfigError; a wrong shape or a non-finite value,
    a PluginError."""
    probabilities = getattr(network.loss, "probabilities", None)
    if probabilities is None:
        raise ConfigError(
            f"{loss} does not say how the network's outputs become probabilities "
            "(a loss plugin gives probabilities(outputs))"
        )
    result = np.array(probabilities(outputs), dtype=np.float64)
    if result.shape != outputs.shape or not np.isfinite(result).all():
        raise PluginError(
            f"{loss}: probabilities() returned "
            f"{'non-finite values' if result.shape == outputs.shape else f'shape {result.shape}'}, "
            f"not finite probabilities of shape {outputs.shape}"
        )
    return result
