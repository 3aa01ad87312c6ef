"""zoo: a plugin-based model zoo of from-scratch NumPy neural networks."""

import pluggy

__version__ = "0.2.0"

hookimpl = pluggy.HookimplMarker("zoo")
"""Marker for plugin hook implementations: ``@zoo.hookimpl def register_layers(register): ...``"""
