"""The tests keep one set of helpers (tests/helpers.py) and conftest files hold only fixtures and hooks."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

TESTS = ROOT / "tests"


def top_level_functions(path: Path) -> list[ast.FunctionDef]:
    tree = ast.parse(path.read_text())
    return [node for node in tree.body if isinstance(node, ast.FunctionDef)]


def is_fixture(function: ast.FunctionDef) -> bool:
    return any("fixture" in ast.unparse(decorator) for decorator in function.decorator_list)


def test_no_helper_is_defined_twice() -> None:
    """No test file defines a module-level function of the same name as one of tests/helpers.py."""
    shared = {f.name for f in top_level_functions(TESTS / "helpers.py")}
    again = [
        f"{path.relative_to(TESTS)}:{function.name}"
        for path in sorted(TESTS.rglob("*.py"))
        if path != TESTS / "helpers.py"
        for function in top_level_functions(path)
        if function.name in shared
    ]
    assert again == []


def test_conftest_files_hold_only_fixtures_and_hooks() -> None:
    """Every function of a conftest is a fixture or a hook (pytest_*, an audit hook); no test imports from a
    conftest."""
    others = [
        f"{path.relative_to(TESTS)}:{function.name}"
        for path in sorted(TESTS.rglob("conftest.py"))
        for function in top_level_functions(path)
        if not (
            is_fixture(function)
            or function.name.startswith("pytest_")
            or f"sys.addaudithook({function.name})" in path.read_text()
        )
    ]
    assert others == []
    importers = [
        str(path.relative_to(TESTS))
        for path in sorted(TESTS.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] == "conftest"
    ]
    assert importers == []
