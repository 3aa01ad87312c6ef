"""docs/plugins.md runs: every fenced code block in it is run, or marked as not run with a reason.

The guide is read top to bottom, so its blocks run in order, in one temporary directory, each
Python block in a namespace of its own, as a reader pastes each into a file of its own:

- a block marked ``<!-- file: NAME -->`` on the line before it is saved as ``NAME`` there; a
  Python one is then imported and loaded as a plugin through ``ZOO_PLUGINS``, as if installed,
  so the blocks after it import it by name and find its names in the default catalog;
- any other Python block is executed, then every ``test_*`` function it defines is called;
- a TOML block is parsed, and one that is a whole registry entry (``layers``, ``loss``,
  ``optimizer`` and ``batches``) is loaded as an entry, against the installed plugins, the
  guide's modules and the example package's (from its source in ``examples/``);
- a shell block is ``zoo`` commands, each run in-process there and required to succeed;
- any other block (what zoo prints, a diff), and one that cannot run here (it installs or
  uploads a package, or needs one installed), is marked ``<!-- not run: REASON -->``.
"""

import importlib
import re
import shlex
import sys
import tomllib
import traceback
from pathlib import Path
from typing import NamedTuple

import pytest
from conftest import DATA
from typer.testing import CliRunner

import zoo
import zoo.testing
from zoo.cli import app
from zoo.config import ModelEntry
from zoo.loading import DISABLE_ENV, PLUGINS_ENV, REGISTRY_PATH_ENV, default_catalog

ROOT = Path(__file__).resolve().parents[1]
"""The repository these tests belong to: its docs and examples, whether zoo is installed from it editable or not."""
GUIDE = ROOT / "docs" / "plugins.md"
EXAMPLE_SOURCE = ROOT / "examples" / "zoo-plugin-example" / "src"
EXAMPLE_PLUGINS = ("layers", "initialisers", "optimizers", "augmenters")
"""The example's modules whose names the guide's entries use (its channel_dropout is one of the guide's files)."""
PLUGIN_VARIABLES = (PLUGINS_ENV, DISABLE_ENV, REGISTRY_PATH_ENV)
ENTRY_TABLES = {"layers", "loss", "optimizer", "batches"}
FENCE = re.compile(r"(?P<indent> *)```(?P<language>\S*)\s*")
MARKER = re.compile(r"\s*<!--\s*(?P<kind>not run|file):\s*(?P<value>.*?)\s*-->\s*")
ASSIGNMENT = re.compile(r"[A-Z_][A-Z0-9_]*=.*")


class Block(NamedTuple):
    """One fenced block: the guide's line of its opening fence, its language, its text and its marker."""

    line: int
    language: str
    text: str
    marker: tuple[str, str] | None  # ("not run", reason) or ("file", name)

    @property
    def runs(self) -> bool:
        return self.marker is None or self.marker[0] == "file"


def read_blocks(lines: list[str]) -> list[Block]:
    """Every fenced block of the Markdown ``lines``, with the marker on the line before it, if any."""
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.fullmatch(lines[i])
        if not opening:
            i += 1
            continue
        indent = opening["indent"]
        end = next(j for j in range(i + 1, len(lines)) if lines[j] == f"{indent}```")
        text = "".join(line.removeprefix(indent) + "\n" for line in lines[i + 1 : end])
        marker = MARKER.fullmatch(lines[i - 1]) if i else None
        blocks.append(Block(i + 1, opening["language"], text, (marker["kind"], marker["value"]) if marker else None))
        i = end + 1
    return blocks


LINES = GUIDE.read_text(encoding="utf-8").splitlines()
BLOCKS = read_blocks(LINES)


class GuideRun:
    """The blocks of the Markdown file ``source`` run in order in ``directory``, its files loaded as plugins."""

    def __init__(self, source: Path, directory: Path, patch: pytest.MonkeyPatch):
        self.source, self.directory, self.patch = source, directory, patch
        self.modules: list[str] = []
        patch.setenv("ZOO_DATA", str(DATA))  # the guide's commands run elsewhere: a relative ZOO_DATA would miss
        patch.chdir(directory)
        patch.syspath_prepend(str(directory))
        patch.syspath_prepend(str(EXAMPLE_SOURCE))
        for variable in PLUGIN_VARIABLES:
            patch.delenv(variable, raising=False)
        default_catalog.cache_clear()

    def close(self) -> None:
        """Forget the modules imported and the catalog built from them (``patch`` undoes the rest)."""
        default_catalog.cache_clear()
        for name in [*self.modules, *(m for m in sys.modules if m.startswith("zoo_plugin_example"))]:
            sys.modules.pop(name, None)

    def run(self, block: Block) -> str | None:
        """None if ``block`` ran, else what went wrong, with the traceback."""
        try:
            {"python": self.python, "toml": self.toml, "sh": self.shell}[block.language](block)
        except Exception:
            return traceback.format_exc()
        return None

    def python(self, block: Block) -> None:
        if block.marker:  # a module of the reader's: saved, imported, and "installed" for the blocks after it
            name = block.marker[1]
            (self.directory / name).write_text(block.text, encoding="utf-8")
            self.modules.append(name.removesuffix(".py"))
            importlib.import_module(self.modules[-1])
            self.patch.setenv(PLUGINS_ENV, ",".join(self.modules))
            default_catalog.cache_clear()
            return
        namespace = {"__name__": f"guide_line_{block.line}"}
        # Blank lines in front, so a traceback's line numbers are the guide's.
        exec(compile("\n" * block.line + block.text, str(self.source), "exec"), namespace)
        for name, value in namespace.items():
            if name.startswith("test_") and callable(value):
                value()

    def toml(self, block: Block) -> None:
        table = tomllib.loads(block.text)
        if block.marker:
            (self.directory / block.marker[1]).write_text(block.text, encoding="utf-8")
        if ENTRY_TABLES <= table.keys():
            example = [importlib.import_module(f"zoo_plugin_example.{module}") for module in EXAMPLE_PLUGINS]
            catalog = zoo.testing.catalog_with(*example)
            ModelEntry.from_table(f"block-line-{block.line}", table, f"{self.source}:{block.line}", catalog)

    def shell(self, block: Block) -> None:
        """Each line a ``zoo`` command, after any ``NAME=value`` settings, run with no other plugin settings."""
        for number, line in enumerate(block.text.splitlines(), block.line + 1):
            words = shlex.split(line, comments=True)
            settings = {variable: None for variable in PLUGIN_VARIABLES}
            while words and ASSIGNMENT.fullmatch(words[0]):
                variable, value = words.pop(0).split("=", 1)
                settings[variable] = value
            if not words:
                continue
            assert words[0] == "zoo", f"line {number}: {line!r} is not a zoo command; mark the block not run"
            default_catalog.cache_clear()
            try:
                result = CliRunner().invoke(app, words[1:], env=settings)
            finally:
                default_catalog.cache_clear()
            assert result.exit_code == 0, f"line {number}: {line!r} exited {result.exit_code}: {result.stderr}"
            assert "failed:" not in result.stderr, f"line {number}: {line!r}: {result.stderr}"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[int, str | None]:
    """What running each block gave, by the line of its fence: None, or the error."""
    with pytest.MonkeyPatch.context() as patch:
        guide = GuideRun(GUIDE, tmp_path_factory.mktemp("guide"), patch)
        try:
            return {block.line: guide.run(block) for block in BLOCKS if block.runs}
        finally:
            guide.close()


def test_every_block_is_run_or_marked_not_run_with_a_reason():
    problems = []
    for block in BLOCKS:
        kind, value = block.marker or (None, None)
        if kind == "not run" and not value:
            problems.append(f"line {block.line}: 'not run' needs a reason")
        elif kind == "file" and block.language not in ("python", "toml"):
            problems.append(f"line {block.line}: only python and toml blocks are saved as files")
        elif block.runs and block.language not in ("python", "toml", "sh"):
            problems.append(f"line {block.line}: a {block.language or 'plain'} block cannot run: mark it not run")
    fences = {block.line - 1 for block in BLOCKS}
    problems += [
        f"line {i + 1}: a marker not just before a block"
        for i, text in enumerate(LINES)
        if MARKER.fullmatch(text) and i + 1 not in fences
    ]
    assert problems == []
    assert {"python", "toml", "sh"} <= {block.language for block in BLOCKS if block.runs}


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.runs], ids=lambda b: f"line-{b.line}-{b.language}")
def test_the_block_runs(block, outcomes):
    assert outcomes[block.line] is None, f"docs/plugins.md line {block.line}:\n{outcomes[block.line]}"


def test_a_block_that_does_not_run_is_reported(tmp_path, monkeypatch):
    markdown = [
        "```python",
        "def test_the_formula():",
        "    assert 1 + 1 == 3",
        "```",
        "<!-- not run: what zoo prints -->",
        "```",
        "error: ...",
        "```",
        "```toml",
        "[[layers]",
        "```",
        "```toml",
        'layers = [{ type = "dense", units = 10 }]',
        'loss = { type = "softmax_cross_entropy" }',
        'optimizer = { type = "no-such-optimizer" }',
        'batches = { type = "full_batch" }',
        "```",
        "  ```sh",
        "  zoo plugins  # runs",
        "  pip install zoo-plugin-mine",
        "  ```",
    ]
    source = tmp_path / "guide.md"
    source.write_text("\n".join(markdown) + "\n")
    blocks = read_blocks(source.read_text().splitlines())
    assert [(b.line, b.language, b.marker) for b in blocks] == [
        (1, "python", None),
        (6, "", ("not run", "what zoo prints")),
        (9, "toml", None),
        (12, "toml", None),
        (18, "sh", None),
    ]
    assert blocks[4].text == "zoo plugins  # runs\npip install zoo-plugin-mine\n"
    guide = GuideRun(source, tmp_path, monkeypatch)
    try:
        errors = [guide.run(block) for block in blocks if block.runs]
    finally:
        guide.close()
    assert "assert 1 + 1 == 3" in errors[0]  # the test the block defines was called
    assert "TOMLDecodeError" in errors[1]
    assert "unknown optimizer 'no-such-optimizer'" in errors[2]
    assert "line 20: 'pip install zoo-plugin-mine' is not a zoo command" in errors[3]
