"""Every script in examples/ runs as a newcomer would run it, and leaves the rows its docstring promises."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import ROOT, Run, json_lines, results, run_python

from mpmon import schema

EXAMPLES = ROOT / "examples"
# Rows per function that each script writes into the log directory given as its argument.
ROWS = {
    "pool.py": {"handle": 12, "parse": 12},
    "process_pool_executor.py": {"invert": 10},
    "multiprocess_pool.py": {"main.<locals>.shifted": 8},
    "plain_process.py": {"step": 10},
    "async_tasks.py": {"fetch": 5, "countdown": 1, "crawl": 1},
    "manual_hooks.py": {"handler_compute": 6, "handler": 4},
    "capture_logging.py": {"resize": 6},
    "demo.py": {"process": 400, "load": 400, "digest": 390, "summarize": 1},
}
READERS = {"analyze_in_python.py"}  # read the log directory that demo.py writes


def run_example(name: str, cwd: Path, *args: str) -> Run:
    """Run examples/<name> in ``cwd`` with a fresh interpreter and no inherited collector; it must exit 0."""
    return run_python([EXAMPLES / name, *args], cwd, env={"MPLBACKEND": "Agg"}, timeout=120)


@pytest.fixture(scope="module")
def example_logs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Run an example once per module, in a folder of its own with the log directory "my-logs"."""
    made: dict[str, Path] = {}

    def logs(name: str) -> Path:
        if name not in made:
            folder = tmp_path_factory.mktemp(name.removesuffix(".py"))
            run_example(name, folder, "my-logs")
            made[name] = folder / "my-logs"
        return made[name]

    return logs


@pytest.fixture(scope="module")
def demo_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The log directory of one run of examples/demo.py (its default name, ./logs)."""
    folder = tmp_path_factory.mktemp("demo")
    run_example("demo.py", folder)
    return folder / "logs"


def test_every_example_is_covered() -> None:
    """A script added to examples/ needs its expected rows here."""
    assert {p.name for p in EXAMPLES.glob("*.py")} == set(ROWS) | READERS


@pytest.mark.parametrize("name", sorted(set(ROWS) - {"demo.py"}))
def test_example_writes_its_rows(name: str, example_logs: Callable[[str], Path]) -> None:
    """The script exits 0 and the log directory named by its argument holds exactly its rows."""
    rows = results(example_logs(name))
    assert rows["function"].value_counts().to_dict() == ROWS[name]
    assert rows["call_id"].is_unique
    assert len(set(rows["run_id"])) == 1


def test_demo_writes_its_rows(demo_logs: Path) -> None:
    """demo.py, run without arguments, writes its rows to ./logs, 10 of them errors."""
    rows = results(demo_logs)
    assert rows["function"].value_counts().to_dict() == ROWS["demo.py"]
    assert (rows["status"] == "error").sum() == 10


def test_analyze_in_python_reads_the_demo(demo_logs: Path) -> None:
    """analyze_in_python.py prints the demo run's totals and saves its two figures."""
    done = run_example("analyze_in_python.py", demo_logs.parent, str(demo_logs))
    assert "'calls': 1191" in done.stdout
    for figure in ("timeline.png", "top_functions.png"):
        assert (demo_logs.parent / figure).read_bytes().startswith(b"\x89PNG")


def test_errors_reach_error_log(example_logs: Callable[[str], Path]) -> None:
    """process_pool_executor.py: the three ZeroDivisionErrors are in error.log, joined to their rows."""
    log_dir = example_logs("process_pool_executor.py")
    errors = json_lines(log_dir / schema.ERROR_LOG)
    failed = results(log_dir).query("status == 'error'")
    assert [e["error_type"] for e in errors] == ["ZeroDivisionError"] * 3
    assert {e["uuid"] for e in errors} == set(failed["call_id"])


def test_captured_logging_reaches_timing_log(example_logs: Callable[[str], Path]) -> None:
    """capture_logging.py: one log line from the parent and one per worker call, in timing.log."""
    log_dir = example_logs("capture_logging.py")
    logged = [e for e in json_lines(log_dir / schema.TIMING_LOG) if e.get("event") == "log"]
    assert sorted(str(e["message"]) for e in logged) == sorted(
        ["resizing 6 images"] + [f"resized image {i} to {640 + i}x{480 + i}" for i in range(6)]
    )
