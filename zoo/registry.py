"""Kept for plugins written for zoo 0.2 (``from zoo.registry import read_entry_file``): finding entries is
:mod:`zoo.entries` now (this name sat beside the top-level ``registry/`` folder of entry files)."""

from zoo.entries import RegistryDirectory, load_entry, matching, read_entry_file, survey_entries  # noqa: F401
