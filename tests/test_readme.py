"""Every code block of README.md runs: python blocks as programs, in order, in one temporary directory
(so the analysis after the first run finds its logs), bash blocks marked `<!-- test: run -->`.

A block is marked by an HTML comment on the line before its fence: `<!-- test: skip (why) -->`,
`<!-- test: file NAME -->` (written as NAME for the next blocks to import), `<!-- test: run -->` (a
bash block to run). A python block that imports a package this environment lacks (an extra such as
ray) is skipped, saying which; a section without code blocks (a placeholder) is nothing to run.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import ROOT, clean_env, run_python

README = ROOT / "README.md"
MARK = re.compile(r"<!--\s*test:\s*(?P<verb>skip|file|run)\b\s*(?P<rest>.*?)\s*-->")


@dataclass(frozen=True)
class Block:
    """A fenced code block: its language, its text, its mark (verb, argument) and its first line."""

    language: str
    code: str
    verb: str
    argument: str
    line: int


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, each with the mark on the line before its fence."""
    found, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if fence is None:
            i += 1
            continue
        mark = MARK.search(lines[i - 1]) if i else None
        end = lines.index("```", i + 1)
        verb, argument = (mark["verb"], mark["rest"]) if mark else ("", "")
        found.append(Block(fence[1], "\n".join(lines[i + 1 : end]) + "\n", verb, argument, i + 1))
        i = end + 1
    return found


def missing_imports(code: str) -> list[str]:
    """Top-level packages a python block imports that this environment does not have."""
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    local = {path.stem for path in Path.cwd().glob("*.py")}
    return sorted(n for n in names if n not in local and importlib.util.find_spec(n) is None)


README_BLOCKS = blocks(README.read_text())


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for all the blocks, in README order."""
    return tmp_path_factory.mktemp("readme")


def test_the_readme_starts_with_the_user() -> None:
    """The two set-up commands come first (CI and the project's rules take them from the top), then how
    to install mpmon into one's own environment, then a first run; internals are in docs/."""
    first = README_BLOCKS[0]
    assert first.language == "bash" and first.line < 15
    assert [line.split("#")[0].strip() for line in first.code.splitlines()] == [
        "bash scripts/demo.sh",
        "bash scripts/test.sh",
    ]
    headings = re.findall(r"(?m)^## (.+)$", README.read_text())
    assert headings[:2] == ["Install", "A first run"]
    assert "pip install /path/to/mpmon" in README_BLOCKS[1].code
    assert headings[-1].startswith("Coming from monitoring")
    assert len(README.read_text().splitlines()) < 300, "the user-facing README stays under 300 lines"
    for page in ("architecture", "wire", "files"):
        assert (ROOT / "docs" / f"{page}.md").is_file()


@pytest.mark.slow
@pytest.mark.parametrize(
    "block", README_BLOCKS, ids=[f"line{b.line}-{b.language or 'text'}" for b in README_BLOCKS]
)
def test_the_block_runs(block: Block, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The block runs to its end with exit status 0 (or is a file, or says why it is skipped)."""
    monkeypatch.chdir(workdir)
    if block.verb == "skip":
        pytest.skip(f"marked: {block.argument}")
    if block.verb == "file":
        (workdir / block.argument).write_text(block.code)
        return
    if block.language == "python":
        missing = missing_imports(block.code)
        if missing:
            pytest.skip(f"needs {', '.join(missing)}, not installed here")
        script = workdir / f"readme_line{block.line}.py"
        script.write_text(block.code)
        run_python([script], workdir, timeout=240)
    elif block.language == "bash" and block.verb == "run":
        env = clean_env({"PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]])})
        command = ["bash", "-euo", "pipefail", "-c", block.code]
        done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    else:
        pytest.skip(f"a {block.language or 'text'} block: not a program")
