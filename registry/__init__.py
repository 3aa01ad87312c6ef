"""The built-in registry entries: one TOML file per named model, installed as ``zoo_builtins.registry``."""
