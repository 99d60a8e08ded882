"""The one set of helpers every test imports: run a program in a fresh interpreter, read its files back.

Programs run with the interpreter running the tests (no mocks of the collector or of multiprocessing),
no inherited MPMON_ or OTEL_ variable and this checkout on PYTHONPATH; their files are read with pandas,
pyarrow and `json` only. The fast unit tests (tests/unit) use none of the process helpers.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pyarrow.dataset as ds
import pytest

from mpmon import schema

ROOT = Path(__file__).resolve().parent.parent


# The start of many of the programs the tests run: the usual imports, a timed `step(i)`, and `steady(n)`
# that calls it n times.
PRELUDE = """
import json, os, signal, socket, sys, time
import multiprocessing as mp
import mpmon

@mpmon.Timer(log_to_console=False)
def step(i):
    return i

def steady(n):
    for i in range(n):
        step(i)
"""

# A real program (the analysis tests' real_parquet_run): a Pool(2) runs nested calls with errors, then the
# main process gathers coroutines whose calls overlap in one thread. Results go to the Parquet dataset.
# Calls: 20 work, 16 inner under work, 1 gather_all, 4 fetch, 4 inner called by the coroutines = 45.
REAL_PROGRAM = """
import asyncio
import multiprocessing
import sys
import time

import mpmon


@mpmon.Timer(log_to_console=False)
def inner(x):
    time.sleep(0.002)
    return x


@mpmon.ErrorCatcher(log_to_console=False)
@mpmon.Timer(log_to_console=False)
def work(x):
    if x % 5 == 3:
        raise ValueError(f"bad {x}")
    return inner(x)


def task(x):
    try:
        return work(x)
    except ValueError:
        return None


@mpmon.Timer(log_to_console=False)
async def fetch(i):
    await asyncio.sleep(0.005 * (i + 1))
    return inner(i)


@mpmon.Timer(log_to_console=False)
def gather_all(n):
    async def main():
        return await asyncio.gather(*(fetch(i) for i in range(n)))

    return asyncio.run(main())


if __name__ == "__main__":
    mpmon.start_collector(sys.argv[1], results_format="parquet", log_to_console=False, tag="real")
    with multiprocessing.Pool(2) as pool:
        pool.map(task, range(20))
    gather_all(4)
    mpmon.stop_collector()
"""
REAL_CALLS = 45


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


def clean_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without MPMON_ or OTEL_ variables, this checkout first on PYTHONPATH, then `env`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MPMON_", "OTEL_"))}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environment.get("PYTHONPATH")]))
    environment.update(env or {})
    return environment


def run_python(
    args: Sequence[object],
    cwd: Path,
    *,
    timeout: float = 180,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> Run:
    """Run `python *args` in `cwd` with :func:`clean_env`; a program that runs over `timeout` is killed
    with every process it started and fails the test. `check`: it must exit 0."""
    started = time.monotonic()
    with subprocess.Popen(
        [sys.executable, *map(str, args)],
        cwd=cwd,
        env=clean_env(env),
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
    done = Run(process.returncode, stdout, stderr, time.monotonic() - started)
    if check:
        assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done


def run_program(
    directory: Path,
    source: str,
    *args: object,
    timeout: float = 180,
    env: dict[str, str] | None = None,
    check: bool = True,
    name: str = "prog.py",
) -> Run:
    """Write `source` to `directory/name` and run it there (see :func:`run_python`)."""
    script = directory / name
    script.write_text(textwrap.dedent(source))
    return run_python([script, *args], directory, timeout=timeout, env=env, check=check)


def analyze(*args: str, timeout: float = 180) -> Run:
    """``mpmon-analyze *args`` (``python -m mpmon.analysis``) in a fresh interpreter; any exit status."""
    return run_python(["-m", "mpmon.analysis", *args], ROOT, timeout=timeout, check=False)


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


def mpmon_modules() -> list[str]:
    """The dotted name of every module of the mpmon package, from its source tree."""
    names = []
    for path in sorted((ROOT / "mpmon").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def json_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSON-lines file, each of which must parse; the last one must be complete."""
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), f"{path.name} ends with a partial line"
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def log_family(log_dir: Path, name: str) -> list[dict[str, Any]]:
    """The lines of a rotating JSON-lines log and of all its backups (name.1, name.2, ...), oldest first."""
    backups = [p for p in log_dir.glob(f"{name}.*") if p.suffix[1:].isdigit()]
    paths = sorted(backups, key=lambda p: -int(p.suffix[1:]))
    if (log_dir / name).exists():
        paths.append(log_dir / name)
    return [entry for path in paths for entry in json_lines(path)]


def log_events(log_dir: Path, event: str) -> list[dict[str, Any]]:
    """The lines of timing.log (backups included) of one event: "call", "run_summary", "log", ..."""
    return [e for e in log_family(log_dir, schema.TIMING_LOG) if e.get("event") == event]


def call_lines(log_dir: Path) -> list[dict[str, Any]]:
    return log_events(log_dir, schema.EVENT_CALL)


def summaries(log_dir: Path) -> list[dict[str, Any]]:
    return log_events(log_dir, schema.RUN_SUMMARY_EVENT)


def read_csv(log_dir: Path) -> pd.DataFrame:
    floats = [c.name for c in schema.COLUMNS if c.kind == "float"]
    frame = pd.read_csv(
        log_dir / schema.RESULTS_CSV, keep_default_na=False, na_values={name: ["", "nan"] for name in floats}
    )
    assert tuple(frame.columns) == schema.COLUMN_NAMES
    return frame


def read_parquet(log_dir: Path) -> pd.DataFrame:
    table = ds.dataset(log_dir / schema.RESULTS_PARQUET, format="parquet").to_table()
    assert table.schema.equals(schema.arrow_schema()), table.schema
    return table.to_pandas()


def read_results(log_dir: Path, results_format: str) -> pd.DataFrame:
    return read_parquet(log_dir) if results_format == "parquet" else read_csv(log_dir)


def results(log_dir: Path) -> pd.DataFrame:
    """The rows of the CSV table and of the Parquet dataset, whichever exist, typed by the schema (times as
    ISO text); an empty frame of the schema's columns when there is neither."""
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
