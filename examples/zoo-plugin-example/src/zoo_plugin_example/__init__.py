"""An example zoo plugin package: one plugin module per kind, each registered under the ``zoo`` entry-point group."""
