"""The recipe of an entry: what training it does, as one hash, so trained weights can say which recipe made them."""

import hashlib
import json

from zoo.catalog import Catalog
from zoo.config import ModelEntry, resolved

NOT_RECIPE = ("description", "tags", "test_time")
"""Resolved keys that do not change what an entry trains: its description, and how its trained network predicts."""


def recipe(entry: ModelEntry, catalog: Catalog) -> dict:
    """Everything that decides the trained weights: data, layers, loss, optimizer, batches, schedule, training
    keys, with every plugin default filled in (a changed default changes the recipe)."""
    return {key: value for key, value in resolved(entry, catalog).items() if key not in NOT_RECIPE}


def recipe_hash(entry: ModelEntry, catalog: Catalog) -> str:
    """``sha256:`` and the hex digest of :func:`recipe` as canonical JSON."""
    text = json.dumps(recipe(entry, catalog), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()
