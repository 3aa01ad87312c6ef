"""The hook specifications: one hook per kind of plugin.

Every hook receives a ``register`` callback. A plugin calls it once per name it
provides: ``register(name, factory)``. zoo stamps each name with the plugin that
registered it, so two plugins claiming one name is an error naming both, never a
silent winner. Factories are called with the options written in a registry entry
as keyword arguments; their signatures are the option schema that entries are
validated against. They must be cheap: zoo calls them once when an entry loads,
to check every option's value before any training starts.
"""

import pluggy

hookspec = pluggy.HookspecMarker("zoo")


@hookspec
def register_layers(register):
    """Register layer factories.

    ``register(name, factory)``: ``factory(**options)`` returns an object with the
    :class:`zoo.layers.Layer` interface (``build``, ``forward``, ``backward``,
    ``params``; optionally ``state``/``load_state`` and ``multiply_adds``). A layer
    declaring ``zoo_contract = 2`` works on per-sample shapes, channels first
    (``build(in_shape) -> out_shape``); one declaring nothing is run as zoo 0.1's
    contract 1 on flat batches (``build(in_features) -> int``). Options whose names end
    in ``_init`` (``weight_init``) are written in entries as initialiser names or tables
    and reach the factory as initialisers.
    """


@hookspec
def register_initialisers(register):
    """Register parameter initialisers.

    ``register(name, factory)``: ``factory(**options)`` returns a callable
    ``init(shape, fan_in, fan_out, rng, dtype) -> ndarray`` drawing from the
    ``numpy.random.Generator`` it is given and nothing else.
    """


@hookspec
def register_optimizers(register):
    """Register optimizers.

    ``register(name, factory)``: ``factory(**options)`` returns an object with the
    :class:`zoo.optim.Optimizer` interface: ``setup(params)``, ``start_epoch(epoch)``
    and ``step(params)``, updating each :class:`zoo.layers.Param` in place.
    """


@hookspec
def register_losses(register):
    """Register losses on the network output.

    ``register(name, factory)``: ``factory(**options)`` returns an object with
    ``forward(output, labels) -> float`` (mean loss over the batch) and
    ``backward() -> ndarray`` (gradient with respect to ``output``, called once
    after each ``forward``), and optionally ``probabilities(output) -> ndarray``, new
    class probabilities from the outputs (for ``Model.predict_proba`` and ``zoo predict``).
    """


@hookspec
def register_batches(register):
    """Register batch schedules: how training samples are picked step by step.

    ``register(name, factory)``: ``factory(**options)`` returns an object with
    ``steps_per_epoch(n)`` and ``iterate(n, rng)``, an iterator of index arrays or
    slices into the ``n`` training samples that never ends unless ``steps_per_epoch``
    is 0 (no batch can be made; zoo then reports the entry as misconfigured).
    """


@hookspec
def register_schedules(register):
    """Register learning-rate schedules: a multiplier on every parameter's learning rate at each step.

    ``register(name, factory)``: ``factory(**options)`` returns an object with
    ``setup(steps_per_epoch, total_steps)`` and ``multiplier(step) -> float`` (step 0-based);
    one that watches a validation metric also has a ``monitor`` attribute (``"val_loss"`` or
    ``"val_accuracy"``), ``observe(metrics)``, called at every log point, and ``state()`` /
    ``load_state(state)`` for checkpoints (see :class:`zoo.schedule.Schedule`). An entry names
    one in its ``[schedule]`` table; the optimizer applies it through ``scale_lr(factor)``.
    """


@hookspec
def register_augmenters(register):
    """Register label-preserving image augmenters, applied to training batches only.

    ``register(name, factory)``: ``factory(**options)`` returns a callable
    ``augment(images, rng) -> images`` on a float batch ``(N, H, W)`` with values
    in [0, 1]; it keeps shape, dtype and range and may work in place.
    """


@hookspec
def register_datasets(register):
    """Register datasets.

    ``register(name, dataset)``: ``dataset`` is a :class:`zoo.datasets.Dataset` declaring one
    image's shape ``(C, H, W)`` and the class names, so zoo checks entries against it before
    reading any data, and a ``loader``. Calling it, ``dataset(data_dir=None)``, returns a
    :class:`zoo.data.ImageData`: uint8 images ``(N, H, W)`` or ``(N, C, H, W)``, integer labels
    ``(N,)`` numbering the classes. A plain ``factory(data_dir=None)`` returning an ImageData
    (contract 1) still works, but its shape and classes are known only once it has loaded.
    ``data_dir``, when given, is an existing directory and the only place to look. Missing files
    raise :class:`zoo.data.DatasetNotFound`; zoo checks what a dataset returns and reports any
    failure as one line naming the plugin.
    """


@hookspec
def register_models(register):
    """Register named model entries (the registry).

    ``register(name, entry)``: ``entry`` is a callable returning
    ``(raw_table, source)``: the entry's TOML as a dict, and a string naming
    where it came from (used in error messages).
    """


@hookspec
def register_weights(register):
    """Register trained weights shipped for model entries (``zoo.create(name, pretrained=True)``).

    ``register(entry_name, weights)``: ``weights`` is a callable returning the path (a
    ``pathlib.Path`` or an ``importlib.resources`` file) of a model file that ``zoo train --out``
    wrote for that entry. Its metadata records the entry's recipe hash at training time; zoo
    refuses the weights once the entry no longer matches it.
    """
