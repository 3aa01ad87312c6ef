"""zoo's built-in plugins, installed as ``zoo_builtins`` and registered through the ``zoo`` entry points."""
