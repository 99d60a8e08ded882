"""Shared tools of the reliability suite: run a real program in a subprocess, read its files back.

Every case writes a small program to `tmp_path`, runs it with the interpreter running the tests (no
mocks of the collector or of multiprocessing), then reads the log directory with pandas, pyarrow and
`json`. Each case reports what it ran, how many records, how many were lost and how long it took;
the figures are printed at the end of the session.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pyarrow.dataset as ds
import pytest

from mpmon import schema

_FIGURES: list[str] = []


@dataclass
class Run:
    """A finished program: its exit status, its output and how long it ran."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def result(self) -> Any:
        """The JSON object the program printed last on stdout."""
        lines = [line for line in self.stdout.splitlines() if line.startswith("{")]
        assert lines, f"the program printed no result\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        return json.loads(lines[-1])

    def assert_ok(self) -> None:
        """The program exited normally, with no traceback on stderr."""
        assert self.returncode == 0, f"exit status {self.returncode}\nstderr:\n{self.stderr}"
        assert "Traceback" not in self.stderr, self.stderr


def run_program(
    directory: Path,
    source: str,
    *args: object,
    timeout: float = 90,
    env: dict[str, str] | None = None,
    name: str = "program.py",
) -> Run:
    """Write `source` to `directory/name` and run it there; the environment carries no MPMON_ variable."""
    script = directory / name
    script.write_text(textwrap.dedent(source))
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MPMON_")}
    full_env.update(env or {})
    started = time.monotonic()
    with subprocess.Popen(
        [sys.executable, str(script), *map(str, args)],
        cwd=directory,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(process.pid)
            stdout, stderr = process.communicate()
            pytest.fail(f"the program ran over {timeout} s\nstdout:\n{stdout}\nstderr:\n{stderr}")
    return Run(process.returncode, stdout, stderr, time.monotonic() - started)


def _kill_tree(pid: int) -> None:
    """Kill a program that hangs and every process it started (the collector has its own session)."""
    try:
        root = psutil.Process(pid)
        family = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()


def json_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSON-lines file, each of which must parse."""
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), f"{path.name} ends with a partial line"
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def log_family(log_dir: Path, name: str) -> list[dict[str, Any]]:
    """The lines of a rotating log and of all its backups, oldest first."""
    paths = sorted(
        log_dir.glob(f"{name}.*"), key=lambda p: -int(p.suffix[1:]) if p.suffix[1:].isdigit() else 0
    )
    paths = [p for p in paths if p.suffix[1:].isdigit()]
    if (log_dir / name).exists():
        paths.append(log_dir / name)
    return [entry for path in paths for entry in json_lines(path)]


def calls_in_log(log_dir: Path) -> list[dict[str, Any]]:
    return [e for e in log_family(log_dir, schema.TIMING_LOG) if e.get("event") == schema.EVENT_CALL]


def summaries(log_dir: Path) -> list[dict[str, Any]]:
    return [e for e in log_family(log_dir, schema.TIMING_LOG) if e.get("event") == schema.RUN_SUMMARY_EVENT]


def results(log_dir: Path) -> pd.DataFrame:
    """The results table: the CSV file and the Parquet dataset, whichever exist, as strings where text."""
    frames = []
    csv_path = log_dir / schema.RESULTS_CSV
    if csv_path.exists():
        frames.append(pd.read_csv(csv_path, dtype=schema.pandas_dtypes(), keep_default_na=False))
    parquet_dir = log_dir / schema.RESULTS_PARQUET
    if parquet_dir.exists() and any(parquet_dir.glob("*.parquet")):
        table = ds.dataset(parquet_dir, format="parquet", schema=schema.arrow_schema()).to_table()
        frame = table.to_pandas()
        for column in schema.TIMESTAMP_COLUMNS:
            frame[column] = frame[column].map(lambda t: t.isoformat(timespec="microseconds"))
        frames.append(frame.astype(schema.pandas_dtypes()))
    if not frames:
        return pd.DataFrame({name: pd.Series(dtype="object") for name in schema.COLUMN_NAMES})
    return pd.concat(frames, ignore_index=True)


def spill_files(log_dir: Path) -> list[Path]:
    return sorted(log_dir.glob(schema.SPILL_GLOB))


def assert_every_file_parses(log_dir: Path) -> None:
    """CSV with pandas, every JSON line with json.loads, every Parquet part with pyarrow."""
    for path in log_dir.rglob("*"):
        if not path.is_file() or path.name.startswith(("_", ".")):
            continue
        if path.name.endswith(".csv"):
            pd.read_csv(path, dtype=str, keep_default_na=False)
        elif path.suffix == ".parquet":
            ds.dataset(path, format="parquet").to_table()
        elif ".log" in path.name or path.suffix == ".jsonl":
            json_lines(path)


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Iterator[Callable[..., None]]:
    """Note a case's figures (what ran, records, lost, seconds); printed at the end of the session."""

    def note(ran: str, records: int, lost: int, seconds: float, **more: object) -> None:
        extra = "".join(f", {k}={v}" for k, v in more.items())
        _FIGURES.append(
            f"{request.node.name}: {ran}; records={records}, lost={lost}, time={seconds:.2f}s{extra}"
        )

    yield note


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _FIGURES:
        terminalreporter.section("mpmon reliability figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)
