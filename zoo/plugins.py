"""Kept for plugins and scripts written for zoo 0.2: plugin loading is :mod:`zoo.loading` now (this name
sat beside the top-level ``plugins/`` folder of built-ins, which it is not)."""

from zoo.loading import (  # noqa: F401
    DISABLE_ENV,
    ENTRY_POINT_GROUP,
    PLUGINS_ENV,
    REGISTRY_PATH_ENV,
    Plugins,
    build_catalog,
    default_catalog,
    environment,
    load_plugins,
)
