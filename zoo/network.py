"""A network: the layers and the loss named by a registry entry, built through the catalog."""

import attrs
import numpy as np

from zoo.catalog import Catalog
from zoo.config import ModelEntry, create
from zoo.errors import ConfigError, one_line
from zoo.layers import Layer, Param


@attrs.define(eq=False)
class Network:
    """Layers applied in order to flat float batches ``(N, features)``, then a loss on the output."""

    layers: list[Layer]
    loss: object
    dtype: np.dtype
    params: list[Param]
    param_names: list[str]
    widths: list[int]
    """Features into the first layer, then out of each layer."""
    rngs: list[np.random.Generator]
    """Each layer's generator, as handed to its ``build``: checkpoints save their states."""

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def backward(self) -> None:
        """Backpropagate the loss of the last ``loss.forward`` call into every parameter's ``grad``."""
        dy = self.loss.backward()
        for i in range(len(self.layers) - 1, -1, -1):
            dy = self.layers[i].backward(dy, need_dx=i > 0)

    def state(self) -> dict[str, np.ndarray]:
        """Every parameter by its stable name, e.g. ``layers.0.W``."""
        return dict(zip(self.param_names, (p.value for p in self.params)))

    def load_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Copy ``arrays`` (as from :meth:`state`) into the parameters; names and shapes must match."""
        for name, param in zip(self.param_names, self.params):
            param.value[...] = arrays[name]


def build_network(
    entry: ModelEntry, catalog: Catalog, in_features: int, n_classes: int, seed: np.random.SeedSequence
) -> Network:
    """Make and initialise the entry's layers (layer ``i`` draws from child ``i`` of ``seed``) and its loss."""
    dtype = np.dtype(entry.train.dtype)
    layers, params, names, widths, rngs = [], [], [], [in_features], []
    for i, (spec, child) in enumerate(zip(entry.layers, seed.spawn(len(entry.layers)))):
        layer = create(spec.ref, catalog)
        rngs.append(np.random.default_rng(child))
        try:
            widths.append(layer.build(widths[-1], dtype, rngs[-1]))
        except (MemoryError, ValueError) as error:  # numpy's answer to a width too large to allocate
            raise ConfigError(f"{spec.ref.where}: cannot build this layer: {one_line(error)}") from None
        for param in layer.params():
            param.lr = spec.lr
            params.append(param)
            names.append(f"layers.{i}.{param.name}")
        layers.append(layer)
    if widths[-1] != n_classes:
        last = entry.layers[-1].ref
        raise ConfigError(
            f"{last.where}: the last layer ({last.type}) gives {widths[-1]} outputs but "
            f"{entry.data.dataset} has {n_classes} classes"
        )
    return Network(layers, create(entry.loss, catalog), dtype, params, names, widths, rngs)
