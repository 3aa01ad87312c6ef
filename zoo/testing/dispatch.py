"""``check_plugin``: the check for a plugin kind, run on one name."""

from collections.abc import Callable
from typing import Any

from zoo.catalog import Catalog
from zoo.errors import ConfigError
from zoo.testing.augmenters import check_augmenter
from zoo.testing.batches import check_batches
from zoo.testing.datasets import check_dataset
from zoo.testing.entries import check_entry
from zoo.testing.initialisers import check_initialiser
from zoo.testing.layers import check_layer
from zoo.testing.losses import check_loss
from zoo.testing.optimizers import check_optimizer
from zoo.testing.schedules import check_schedule
from zoo.testing.weights import check_weights

CHECKS: dict[str, Callable[..., None]] = {
    "layer": check_layer,
    "initialiser": check_initialiser,
    "optimizer": check_optimizer,
    "loss": check_loss,
    "batches": check_batches,
    "schedule": check_schedule,
    "augmenter": check_augmenter,
}
"""The check for each plugin kind with options."""

WITHOUT_OPTIONS: dict[str, tuple[Callable[..., None], str]] = {
    "model": (check_entry, "a registry entry"),
    "dataset": (check_dataset, "a dataset"),
    "weights": (check_weights, "trained weights"),
}
"""The check for each kind whose names take no options, and what to call one in errors."""


def check_plugin(
    kind: str, name: str, options: dict[str, Any] | None = None, *, catalog: Catalog | None = None, **kwargs: Any
) -> None:
    """Run the check for ``kind`` (``check_layer`` for ``"layer"``, ...; ``check_entry`` for ``"model"``,
    ``check_dataset`` for ``"dataset"``) on ``name``.

    ``kwargs`` go to that check (``std=`` for an initialiser, ``in_place=`` for an augmenter,
    ``data_dir=`` for a dataset, ...).
    """
    if kind in WITHOUT_OPTIONS:
        check, what = WITHOUT_OPTIONS[kind]
        if options:
            raise ConfigError(f"zoo.testing: {kind} {name!r}: {what} takes no options")
        return check(name, catalog=catalog, **kwargs)
    if kind not in CHECKS:
        raise ConfigError(
            f"zoo.testing: no check for kind {kind!r} (checked: {', '.join([*CHECKS, *WITHOUT_OPTIONS])})"
        )
    return CHECKS[kind](name, options, catalog=catalog, **kwargs)
