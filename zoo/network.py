"""A network: the layers and the loss named by a registry entry, built through the catalog."""

import math

import attrs
import numpy as np

from zoo.catalog import Catalog
from zoo.config import ModelEntry, PluginRef, create
from zoo.errors import ConfigError, DataError, PluginError, one_line
from zoo.layers import CONTRACTS, FlatLayer, Layer, Param, contract_of, descend, is_shape
from zoo.probabilities import probabilities_of


@attrs.define(eq=False)
class Network:
    """Layers applied in order to float batches ``(N, *in_shape)``, then a loss on the output ``(N, classes)``."""

    layers: list[Layer]
    """Every layer through contract 2 (contract-1 layers wrapped in :class:`zoo.layers.FlatLayer`)."""
    loss: object
    dtype: np.dtype
    params: list[Param]
    param_names: list[str]
    shapes: list[tuple[int, ...]]
    """The per-sample shape into the first layer, then out of each layer."""
    rngs: list[np.random.Generator]
    """Each layer's generator, as handed to its ``build``: checkpoints save their states."""
    where: list[str] = attrs.field(factory=list)
    """Each layer's place in its entry and type, for errors: ``registry/x.toml: layers.3 (conv2d)``."""

    _batch: tuple = attrs.field(init=False, default=(None, []))
    """The batch size of the last forward and :meth:`_batch_shapes` for it."""
    _descents: list[tuple] = attrs.field(init=False)
    """For :meth:`backward_descent`, last layer first: index, layer, the slice of ``params`` it owns (None if
    it owns nothing) and its ``backward_descent`` (or None)."""

    def __attrs_post_init__(self) -> None:
        counts = np.cumsum([0, *(len(layer.params()) for layer in self.layers)])
        self._descents = []
        for i in range(len(self.layers) - 1, -1, -1):
            layer, start, stop = self.layers[i], int(counts[i]), int(counts[i + 1])
            own = slice(start, stop) if stop > start else None
            fused = getattr(layer, "backward_descent", None) if own else None
            self._descents.append((i, layer, own, fused))

    @property
    def in_shape(self) -> tuple[int, ...]:
        return self.shapes[0]

    @property
    def runs_threads(self) -> bool:
        """Whether a layer computes on threads of its own (``zoo_threads`` > 1, checked when built)."""
        return any(getattr(layer, "zoo_threads", 1) > 1 for layer in self.layers)

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        """``x`` of ``(N, *in_shape)`` or any shape with as many values per sample (a view when contiguous)."""
        batch = self._batch_shapes(len(x))
        if x.shape != batch[0]:
            if x.size != len(x) * math.prod(self.shapes[0]):
                raise DataError(f"samples of shape {x.shape[1:]} do not fit this network, which takes {self.shapes[0]}")
            x = x.reshape(batch[0])
        for i, layer in enumerate(self.layers):
            x = layer.forward(x, training)
            if x.shape != batch[i + 1] and x.shape[1:] != self.shapes[i + 1]:
                raise PluginError(
                    f"{self.where[i]}: forward returned samples of shape {x.shape[1:]}, "
                    f"but build said {self.shapes[i + 1]}"
                )
        return x

    def _batch_shapes(self, n: int) -> list[tuple[int, ...]]:
        """``shapes`` with a batch axis of ``n`` in front, made when ``n`` changes: the per-step checks of what
        layers return compare whole shapes, without slicing off the batch axis (the full check runs when they fail)."""
        if self._batch[0] != n:
            self._batch = (n, [(n, *shape) for shape in self.shapes])
        return self._batch[1]

    def backward(self) -> None:
        """Backpropagate the loss of the last ``loss.forward`` call into every parameter's ``grad``."""
        dy = self.loss.backward()
        batch = self._batch[1]  # of the last forward, whose loss this is
        for i in range(len(self.layers) - 1, 0, -1):
            dy = self.layers[i].backward(dy, need_dx=True)
            if type(dy) is not np.ndarray or dy.shape != batch[i]:  # the whole check only when this fast one fails
                dy = self._checked_dx(i, dy)
        self.layers[0].backward(dy, need_dx=False)

    def backward_descent(self, rates: list[float]) -> None:
        """:meth:`backward` fused with plain gradient descent, ``value -= rate·grad`` (``rates`` in ``params``
        order): each layer updates its parameters once it has given ``dx``, through its own
        ``backward_descent`` when it has one, else by ``backward`` and :func:`zoo.layers.descend`."""
        dy = self.loss.backward()
        batch = self._batch[1]  # of the last forward, whose loss this is
        for i, layer, own, fused in self._descents:
            need_dx = i > 0
            if fused is not None:
                dy = fused(dy, rates[own], need_dx=need_dx)
            else:
                dy = layer.backward(dy, need_dx=need_dx)
                if own is not None:
                    descend(self.params[own], rates[own])
            if need_dx and (type(dy) is not np.ndarray or dy.shape != batch[i]):
                dy = self._checked_dx(i, dy)

    def _checked_dx(self, i: int, dy) -> np.ndarray:
        if not isinstance(dy, np.ndarray) or dy.shape[1:] != self.shapes[i]:
            got = f"samples of shape {dy.shape[1:]}" if isinstance(dy, np.ndarray) else type(dy).__name__
            raise PluginError(f"{self.where[i]}: backward returned {got}, not dx of samples {self.shapes[i]}")
        return dy

    def state(self) -> dict[str, np.ndarray]:
        """Every parameter and every layer's non-trained state by its stable name, e.g. ``layers.0.W``."""
        arrays = dict(zip(self.param_names, (p.value for p in self.params)))
        for i, layer in enumerate(self.layers):
            arrays |= {f"layers.{i}.{key}": value for key, value in _layer_state(layer).items()}
        return arrays

    def load_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Copy ``arrays`` (as from :meth:`state`) into the parameters and layer states; names and shapes must match."""
        for name, param in zip(self.param_names, self.params):
            param.value[...] = arrays[name]
        for i, layer in enumerate(self.layers):
            own = _layer_state(layer)
            if own:
                layer.load_state({key: np.array(arrays[f"layers.{i}.{key}"], copy=True) for key in own})


def _layer_state(layer: Layer) -> dict[str, np.ndarray]:
    state = getattr(layer, "state", None)
    return state() if callable(state) else {}


def build_network(
    entry: ModelEntry,
    catalog: Catalog,
    in_shape: tuple[int, ...],
    n_classes: int,
    seed: np.random.SeedSequence,
) -> Network:
    """Make and initialise the entry's layers (layer ``i`` draws from child ``i`` of ``seed``) and its loss.

    Every shape a layer's ``build`` returns is checked, so a network that cannot fit its
    input or its classes fails here, before any data is read.
    """
    dtype = np.dtype(entry.train.dtype)
    layers, params, names, shapes, rngs, where = [], [], [], [tuple(in_shape)], [], []
    for i, (spec, child) in enumerate(zip(entry.layers, seed.spawn(len(entry.layers)))):
        layer = _adapt(create(spec.ref, catalog), spec.ref, catalog)
        rngs.append(np.random.default_rng(child))
        where.append(f"{spec.ref.where} ({spec.ref.type})")
        shapes.append(_build(layer, spec.ref, shapes[-1], dtype, rngs[-1], catalog))
        own = layer.params()
        if spec.lr is not None and not own:  # a rate with nothing to train would be shown and silently ignored
            raise ConfigError(
                f"{spec.ref.where}.lr: layer {spec.ref.type!r} has no parameters, so it takes no learning rate"
            )
        for param in own:
            param.lr = spec.lr
            params.append(param)
            names.append(f"layers.{i}.{param.name}")
        threads = getattr(layer, "zoo_threads", 1)
        if type(threads) is not int or threads < 1:
            plugin = catalog.get("layer", spec.ref.type).plugin
            raise PluginError(
                f"{spec.ref.where}: layer {spec.ref.type!r} (plugin {plugin!r}): zoo_threads is {threads!r}, "
                "not an int >= 1 (the threads the layer computes on)"
            )
        clash = {p.name for p in own} & set(_layer_state(layer))
        if clash:
            raise PluginError(f"{where[-1]}: state() and params() both use the names {sorted(clash)}")
        layers.append(layer)
    if shapes[-1] != (n_classes,):
        last = entry.layers[-1].ref
        raise ConfigError(
            f"{last.where}: the last layer ({last.type}) gives outputs of shape {shapes[-1]} but "
            f"{entry.data.dataset} has {n_classes} classes: it must give ({n_classes},)"
        )
    loss = create(entry.loss, catalog)
    if entry.test_time.shifts:  # the shifted views average probabilities: try them now, not after training
        probabilities_of(
            loss, np.zeros((2, n_classes), dtype), f"{entry.source}: test_time.shifts: loss {entry.loss.type!r}"
        )
    return Network(layers, loss, dtype, params, names, shapes, rngs, where)


def _adapt(layer: object, ref: PluginRef, catalog: Catalog) -> Layer:
    """``layer`` through contract 2: as it is, or wrapped if it was written to contract 1."""
    contract = contract_of(layer)
    if contract == 1:
        return FlatLayer(layer)
    if contract not in CONTRACTS:
        plugin = catalog.get("layer", ref.type).plugin
        raise PluginError(
            f"{ref.where}: layer {ref.type!r} (plugin {plugin!r}) declares zoo_contract = {contract!r}; "
            f"this zoo runs layer contracts {', '.join(map(str, CONTRACTS))}: upgrade zoo"
        )
    return layer


def _build(layer: Layer, ref: PluginRef, in_shape: tuple, dtype: np.dtype, rng, catalog: Catalog) -> tuple:
    """Build ``layer`` for samples of ``in_shape``; the output shape, checked."""
    try:
        out = layer.build(in_shape, dtype, rng)
    except (MemoryError, ValueError) as error:  # numpy's answer to a width too large to allocate, or a bad fit
        raise ConfigError(f"{ref.where}: cannot build this layer for input {in_shape}: {one_line(error)}") from None
    except Exception as error:  # a plugin's bug: one line naming it, the cause kept for its author
        plugin = catalog.get("layer", ref.type).plugin
        raise PluginError(
            f"{ref.where}: layer {ref.type!r} (plugin {plugin!r}): build raised {type(error).__name__}: "
            f"{one_line(error)}"
        ) from error
    if not is_shape(out):
        plugin = catalog.get("layer", ref.type).plugin
        raise PluginError(
            f"{ref.where}: layer {ref.type!r} (plugin {plugin!r}) build() returned {out!r}, not an output shape: "
            "a contract-2 layer returns a tuple of positive integers such as (128,) or (6, 28, 28)"
        )
    if math.prod(out) > 1 << 31:
        raise ConfigError(f"{ref.where}: this layer gives {math.prod(out):,} values per sample, too many to hold")
    return tuple(int(n) for n in out)
