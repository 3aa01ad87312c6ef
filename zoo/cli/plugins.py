"""The ``plugins`` command: what every installed plugin registered, and which plugins failed."""

from rich.markup import escape

from zoo.cli.app import JsonOption, columns, command, echo, err, print_json
from zoo.loading import default_catalog


@command()
def plugins(as_json: JsonOption = False):
    """Every registered name by kind, with the plugin and package that provided it, and failed plugins."""
    catalog = default_catalog()
    rows = [{"kind": r.kind, "name": r.name, "plugin": r.plugin, "package": r.package} for r in catalog.records()]
    failures = [{"plugin": f.plugin, "package": f.package, "reason": f.reason} for f in catalog.failures]
    disabled = [{"plugin": plugin, "package": package} for plugin, package in catalog.disabled]
    if as_json:
        return print_json({"plugins": rows, "failures": failures, "disabled": disabled})
    cells = [[r["kind"], r["name"], r["plugin"], r["package"] or ""] for r in rows]
    echo(columns(["kind", "name", "plugin", "package"], cells))
    for failure in failures:
        err.print(
            f"[red]failed:[/red] {escape(failure['plugin'])} ({_package(failure['package'])}): "
            f"{escape(failure['reason'])}",
            highlight=False,
            soft_wrap=True,
        )
    for item in disabled:
        err.print(
            f"disabled: {escape(item['plugin'])} ({_package(item['package'])}) by $ZOO_DISABLE_PLUGINS",
            highlight=False,
            soft_wrap=True,
        )


def _package(package: str | None) -> str:
    """The distribution a plugin came from, or ``not installed`` (--plugin, $ZOO_PLUGINS, $ZOO_REGISTRY_PATH)."""
    return escape(package) if package else "not installed"
