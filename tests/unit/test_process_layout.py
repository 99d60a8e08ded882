"""The folders say which process runs what: the collector process never imports the sender's side, and
what runs in the user's program (start, stop, the stop's outcome) lives in mpmon/run/."""

from __future__ import annotations

import ast
from pathlib import Path

import mpmon

PACKAGE = Path(mpmon.__file__).parent
SENDER_SIDE = {"mpmon.sender", "mpmon.spill", "mpmon.transport", "mpmon.decorators", "mpmon.calls"}


def imported_modules(path: Path) -> set[str]:
    """The absolute names of the mpmon modules a module imports (relative imports resolved)."""
    package = ["mpmon", *path.relative_to(PACKAGE).parent.parts]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("mpmon")}


def test_the_collector_process_reads_the_spill_format_not_the_sender() -> None:
    """collector/*.py import neither the sender side nor spill.py; the spill format is spill_format.py."""
    found = {
        f"{path.name}: {name}"
        for path in sorted((PACKAGE / "collector").glob("*.py"))
        for name in imported_modules(path)
        if name in SENDER_SIDE
    }
    assert found == set()
    assert "mpmon.spill_format" in imported_modules(PACKAGE / "collector" / "ingest.py")
    assert "mpmon.spill_format" in imported_modules(PACKAGE / "spill.py")


def test_user_side_control_lives_in_run_and_keeps_its_public_names() -> None:
    from mpmon.run import control, outcome

    assert mpmon.start_collector is control.start_collector
    assert mpmon.stop_collector is control.stop_collector
    assert mpmon.RunIncomplete is outcome.RunIncomplete
    left = {p.name for p in (PACKAGE / "collector").glob("*.py")} & {"control.py", "outcome.py", "program.py"}
    assert left == set()
