"""docs/python.md runs: its Python blocks run in order in one namespace, as a notebook runs its cells.

A block marked ``<!-- not run: REASON -->`` on the line before it is skipped (none is today).
"""

import re
from pathlib import Path

import pytest

from zoo.session import session_plugins, unregister_plugin

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "python.md"
BLOCK = re.compile(r"(?P<marker><!-- not run: [^>]*-->\n)?```python\n(?P<code>.*?)\n```", re.DOTALL)


def blocks() -> list[tuple[int, str]]:
    text = GUIDE.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start("code")) + 1, match["code"])
        for match in BLOCK.finditer(text)
        if not match["marker"]
    ]


def test_the_guide_has_python_blocks():
    assert len(blocks()) >= 10


def test_every_python_block_runs_in_order_in_one_namespace(data_env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__main__"}
    before = session_plugins()
    try:
        for line, code in blocks():
            try:
                exec(compile(code, f"{GUIDE}:{line}", "exec"), namespace)
            except Exception as error:
                pytest.fail(f"docs/python.md, the block at line {line} raised {type(error).__name__}: {error}")
    finally:
        for name in set(session_plugins()) - set(before):
            unregister_plugin(name)
