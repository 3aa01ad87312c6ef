"""Scaffolding: ``zoo new-plugin NAME`` writes a ready-to-install plugin package from templates.

The templates are the files under ``zoo/scaffold_template/`` ending in ``.tmpl``, laid out
as the package will be. Their text and their paths are ``string.Template`` s (``${name}``,
``${package}``, ...), which leave Python's braces alone.
"""

import re
import shutil
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from string import Template

import zoo
from zoo.errors import ZooError

TEMPLATES = "scaffold_template"
SUFFIX = ".tmpl"
NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
"""Lowercase letters and digits in words joined by single hyphens, starting with a letter."""
MAX_LENGTH = 40
"""Longer names would push generated lines past the 120 characters ruff allows."""


class ScaffoldError(ZooError):
    """A plugin name that is not allowed, or a package directory that cannot be written."""


def check_name(name: str) -> None:
    """Raise ScaffoldError unless ``name`` makes valid distribution, module and plugin names."""
    if not NAME.fullmatch(name):
        raise ScaffoldError(
            f"invalid plugin name {name!r}: use lowercase letters, digits and single hyphens, "
            "starting with a letter (e.g. 'my-layers')"
        )
    if len(name) > MAX_LENGTH:
        raise ScaffoldError(f"plugin name {name!r} is too long: {len(name)} characters, at most {MAX_LENGTH}")


def template_values(name: str) -> dict[str, str]:
    """What the templates may use: ``name`` (the prefix of every registered name) and the names derived from it."""
    module = name.replace("-", "_")
    return {
        "name": name,
        "module": module,
        "package": f"zoo_plugin_{module}",
        "distribution": f"zoo-plugin-{name}",
        "zoo_version": zoo.__version__,
    }


def render(name: str) -> dict[PurePosixPath, str]:
    """The plugin package for ``name``: each file's path relative to the package directory, and its text."""
    check_name(name)
    values = template_values(name)
    files = {}
    for relative, template in _templates(resources.files("zoo").joinpath(TEMPLATES), ""):
        path = PurePosixPath(Template(relative).substitute(values).removesuffix(SUFFIX))
        files[path] = Template(template.read_text(encoding="utf-8")).substitute(values)
    return files


def new_plugin(name: str, parent: str | Path = ".") -> Path:
    """Write the plugin package for ``name`` to ``parent/zoo-plugin-NAME`` and return that directory.

    Refuses to touch an existing path. A write that fails part-way removes what it wrote.
    """
    files = render(name)
    target = Path(parent) / template_values(name)["distribution"]
    if target.exists():
        raise ScaffoldError(f"{target} already exists; remove it or choose another name or --dir")
    try:
        target.mkdir(parents=True)
    except OSError as error:
        raise ScaffoldError(f"cannot create {target}: {error.strerror or error}") from None
    try:
        for relative, text in files.items():
            path = target.joinpath(*relative.parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as error:
        shutil.rmtree(target, ignore_errors=True)
        raise ScaffoldError(f"cannot write {target}: {error.strerror or error}") from None
    return target


def _templates(folder: Traversable, prefix: str):
    """``(relative path, file)`` for every ``.tmpl`` file below ``folder``."""
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        relative = f"{prefix}{item.name}"
        if item.is_dir():
            yield from _templates(item, relative + "/")
        elif item.name.endswith(SUFFIX):
            yield relative, item
