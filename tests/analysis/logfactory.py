"""Write mpmon log directories in the collector's exact formats, for fast tests of the analysis.

A synthetic run is a list of row dicts with the columns of ``mpmon.schema``, built so that every total is
known in advance: a ``main`` call in MainProcess spans the run; each worker runs back-to-back ``task``
calls, each with a nested ``step`` call, every fifth task replaced by a failing ``flaky`` call; ``io_wait``
calls are untracked (no CPU or memory). Writers put rows into the CSV table (strings quoted, ISO times,
``nan`` for untracked), the Parquet dataset, ``timing.log`` (with run events and rotated backups),
``error.log`` and spill files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from mpmon import schema

T0 = pd.Timestamp("2026-11-25T18:00:00Z")
TASK_S = 0.1
STEP_S = 0.04
FLAKY_S = 0.02
IO_S = 0.05
HOST = "testhost"
RUN_A = "20261125T180000Z-aaaaaa"
RUN_B = "20261125T190000Z-bbbbbb"
OneRun = tuple[Path, list[dict[str, Any]]]
TwoRuns = tuple[Path, list[dict[str, Any]], list[dict[str, Any]]]


def iso(stamp: pd.Timestamp) -> str:
    """A UTC timestamp as the collector writes it: ISO 8601, microseconds, ``+00:00``."""
    return stamp.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%f") + "+00:00"


def row(
    run_id: str,
    call_id: str,
    function: str,
    start: pd.Timestamp,
    duration: float,
    pid: int,
    *,
    parent_id: str = "",
    status: str = "ok",
    tracked: bool = True,
    process_name: str | None = None,
) -> dict[str, Any]:
    """One results row (timestamps as ISO text, floats as numbers, NaN when not tracked)."""
    end = start + pd.Timedelta(microseconds=round(duration * 1e6))
    return {
        "run_id": run_id,
        "call_id": call_id,
        "parent_id": parent_id,
        "source": "timer",
        "function": function,
        "module": "synthetic",
        "start_time": iso(start),
        "end_time": iso(end),
        "duration_s": duration,
        "cpu_time_s": duration * 0.5 if tracked else math.nan,
        "mem_delta_mib": 0.25 if tracked else math.nan,
        "mem_final_mib": 40.0 + pid % 7 if tracked else math.nan,
        "pid": pid,
        "process_name": process_name or (f"ForkPoolWorker-{pid % 100}" if pid % 100 else "MainProcess"),
        "thread_name": "MainThread",
        "host": HOST,
        "status": status,
        "error_type": "ValueError" if status == "error" else "",
        "args": json.dumps({"args": [str(pid)], "kwargs": {}}),
        "message": f"{function} finished in {duration:.6f} s"
        + (", raised ValueError" if status == "error" else ""),
    }


def make_run(
    run_id: str, *, start: pd.Timestamp = T0, workers: int = 3, tasks: int = 10, pid_base: int = 1000
) -> list[dict[str, Any]]:
    """Rows of one synthetic run (see the module docstring): ``workers`` processes of ``tasks`` tasks."""
    rows: list[dict[str, Any]] = []
    for w in range(1, workers + 1):
        at = start + pd.Timedelta(milliseconds=5 * w)
        for t in range(tasks):
            call_id = f"{run_id}-w{w}-t{t}"
            if t % 5 == 4:
                rows.append(row(run_id, call_id, "flaky", at, FLAKY_S, pid_base + w, status="error"))
                at += pd.Timedelta(seconds=FLAKY_S + 0.001)
                continue
            rows.append(row(run_id, call_id, "task", at, TASK_S, pid_base + w))
            child_at = at + pd.Timedelta(seconds=0.01)
            rows.append(
                row(run_id, call_id + "-s", "step", child_at, STEP_S, pid_base + w, parent_id=call_id)
            )
            at += pd.Timedelta(seconds=TASK_S + 0.002)
        rows.append(row(run_id, f"{run_id}-w{w}-io", "io_wait", at, IO_S, pid_base + w, tracked=False))
    end = max(pd.Timestamp(r["end_time"]) for r in rows) + pd.Timedelta(milliseconds=5)
    span = (end - start).total_seconds()
    rows.insert(0, row(run_id, f"{run_id}-main", "main", start, span, pid_base, process_name="MainProcess"))
    return rows


def frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a DataFrame in schema column order (timestamps still ISO text)."""
    return pd.DataFrame(list(rows), columns=list(schema.COLUMN_NAMES))


# --- results tables ------------------------------------------------------------------------------------


def csv_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Rows as the collector's CSV sink types them: timestamps as text, the rest as in the schema."""
    fields = [
        pa.field(f.name, pa.string() if f.name in schema.TIMESTAMP_COLUMNS else f.type)
        for f in schema.arrow_schema()
    ]
    columns = {name: [r[name] for r in rows] for name in schema.COLUMN_NAMES}
    return pa.Table.from_pydict(columns, schema=pa.schema(fields))


def write_csv(log_dir: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Append rows to ``timing_results.csv``, writing the header when the file is new."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / schema.RESULTS_CSV
    new = not path.exists()
    with path.open("ab") as fh:
        if new:
            fh.write((schema.CSV_HEADER + "\n").encode())
        pa_csv.write_csv(csv_table(rows), fh, write_options=pa_csv.WriteOptions(include_header=False))
    return path


def write_parquet(log_dir: Path, rows: Sequence[dict[str, Any]], part: str = "part-0") -> Path:
    """Write rows as one part file of the ``timing_results.parquet/`` dataset."""
    directory = log_dir / schema.RESULTS_PARQUET
    directory.mkdir(parents=True, exist_ok=True)
    data = frame(rows)
    for name in schema.TIMESTAMP_COLUMNS:
        data[name] = pd.to_datetime(data[name], utc=True).astype("datetime64[us, UTC]")
    path = directory / f"{part}.parquet"
    pq.write_table(pa.Table.from_pandas(data, schema=schema.arrow_schema(), preserve_index=False), path)
    return path


# --- JSON lines ----------------------------------------------------------------------------------------


def call_line(r: dict[str, Any]) -> dict[str, Any]:
    """The timing.log line of a results row (untracked floats as null)."""
    values = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
    level = "ERROR" if r["status"] == "error" else "INFO"
    return {
        "timestamp": r["end_time"],
        "level": level,
        "event": schema.EVENT_CALL,
        "uuid": r["call_id"],
        **values,
    }


def run_start_line(run_id: str, tag: str, at: pd.Timestamp) -> dict[str, Any]:
    """The line the collector writes when a run starts."""
    return {
        "timestamp": iso(at),
        "level": "INFO",
        "event": schema.RUN_START_EVENT,
        "run_id": run_id,
        "tag": tag,
        "host": HOST,
        "pid": 999,
        "log_dir": "logs",
        "message": f"run {run_id} started",
    }


def run_summary_line(
    run_id: str, tag: str, rows: Sequence[dict[str, Any]], at: pd.Timestamp
) -> dict[str, Any]:
    """The line the collector writes when a run stops."""
    errors = sum(r["status"] == "error" for r in rows)
    return {
        "timestamp": iso(at),
        "level": "INFO",
        "event": schema.RUN_SUMMARY_EVENT,
        "run_id": run_id,
        "tag": tag,
        "message": f"run {run_id}: {len(rows)} calls",
        "records_by_source": {"timer": len(rows), "hook": 0},
        "errors": errors,
        "processes": len({r["pid"] for r in rows}),
        "dropped": 0,
        "drop_policy": "block",
        "spilled": 0,
        "ingested": 0,
    }


def log_line(run_id: str, at: pd.Timestamp, message: str) -> dict[str, Any]:
    """A captured ordinary logging record."""
    return {
        "timestamp": iso(at),
        "level": "INFO",
        "event": schema.EVENT_LOG,
        "message": message,
        "logger": "root",
        "run_id": run_id,
        "pid": 999,
        "process_name": "MainProcess",
        "thread_name": "MainThread",
    }


def error_line(r: dict[str, Any]) -> dict[str, Any]:
    """The error.log entry of a failed results row (uuid = its call_id)."""
    entry = {k: r.get(k, "") for k in schema.ERROR_LOG_KEYS}
    entry.update(
        timestamp=r["end_time"],
        level="ERROR",
        message=f"{r['function']} raised ValueError: boom",
        uuid=r["call_id"],
        error_message="boom",
        traceback="Traceback (most recent call last):\nValueError: boom\n",
    )
    return entry


def write_jsonl(path: Path, objs: Iterable[dict[str, Any]]) -> Path:
    """Append JSON objects as lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(o, separators=(",", ":")) + "\n" for o in objs)
    return path


def write_rotated(log_dir: Path, base: str, objs: Sequence[dict[str, Any]], files: int) -> list[Path]:
    """Spread lines over ``base.N`` ... ``base.1``, ``base`` like RotatingFileHandler (oldest in ``.N``)."""
    names = [f"{base}.{n}" for n in range(files - 1, 0, -1)] + [base]
    size = -(-len(objs) // files)
    paths = []
    for i, name in enumerate(names):
        paths.append(write_jsonl(log_dir / name, objs[i * size : (i + 1) * size]))
    return paths


def write_run(
    log_dir: Path,
    rows: Sequence[dict[str, Any]],
    *,
    table: str = "csv",
    tag: str = "synthetic",
    rotate: int = 1,
) -> None:
    """Everything the collector writes for one run: the table, timing.log with events, error.log."""
    if table == "csv":
        write_csv(log_dir, rows)
    elif table == "parquet":
        write_parquet(log_dir, rows, part=f"part-{rows[0]['run_id']}")
    run_id = rows[0]["run_id"]
    start = pd.Timestamp(rows[0]["start_time"]) - pd.Timedelta(milliseconds=2)
    end = max(pd.Timestamp(r["end_time"]) for r in rows) + pd.Timedelta(milliseconds=2)
    lines = [run_start_line(run_id, tag, start), log_line(run_id, start, "hello from the test")]
    lines += [call_line(r) for r in rows] + [run_summary_line(run_id, tag, rows, end)]
    if rotate > 1:
        write_rotated(log_dir, schema.TIMING_LOG, lines, rotate)
    else:
        write_jsonl(log_dir / schema.TIMING_LOG, lines)
    write_jsonl(log_dir / schema.ERROR_LOG, [error_line(r) for r in rows if r["status"] == "error"])


def legacy_lines(start: pd.Timestamp, count: int, function: str = "old_task") -> list[dict[str, Any]]:
    """timing.log lines as the original single-process module wrote them (no run id, no event)."""
    lines = []
    for i in range(count):
        end = start + pd.Timedelta(seconds=0.5 * i + 0.2)
        lines.append(
            {
                "timestamp": end.strftime("%Y-%m-%d %H:%M:%S,%f")[:-3],
                "level": "INFO",
                "message": f"Function `{function}` executed in 0.2000 sec, CPU Time: 0.1000 sec, "
                "Memory Change: 0.5000 MB, Final Memory: 60.0000 MB",
                "function": function,
                "uuid": f"legacy-{start:%H%M%S}-{i}",
            }
        )
    return lines


def bulk_rows(count: int, *, functions: int = 50, processes: int = 8, seed: int = 0) -> pd.DataFrame:
    """``count`` calls typed as the loader returns them (vectorised): back-to-back calls per process,
    log-normal durations per function, no nesting, about 1% errors; for figures at scale."""
    rng = np.random.default_rng(seed)
    function = rng.integers(0, functions, count)
    duration = np.geomspace(1e-4, 0.05, functions)[function] * rng.lognormal(0, 0.5, count)
    pid = np.sort(rng.integers(0, processes, count))
    ends = np.cumsum(duration + 1e-5)
    first = np.r_[0.0, ends][np.searchsorted(pid, np.arange(processes))]
    start = ends - duration - 1e-5 - first[pid]
    t0 = T0.value // 1000
    start_us = (start * 1e6).astype(np.int64) + t0
    failed = rng.random(count) < 0.01
    data = {
        "run_id": "bulk-run",
        "call_id": [f"bulk-{i}" for i in range(count)],
        "parent_id": "",
        "source": "timer",
        "function": np.char.add("fn_", function.astype(str)),
        "module": "bulk",
        "start_time": pd.to_datetime(start_us, unit="us", utc=True),
        "end_time": pd.to_datetime(start_us + (duration * 1e6).astype(np.int64), unit="us", utc=True),
        "duration_s": duration,
        "cpu_time_s": duration * 0.8,
        "mem_delta_mib": rng.normal(0, 1, count),
        "mem_final_mib": 100.0,
        "pid": pid + 500,
        "process_name": np.char.add("Worker-", pid.astype(str)),
        "thread_name": "MainThread",
        "host": HOST,
        "status": np.where(failed, "error", "ok"),
        "error_type": np.where(failed, "RuntimeError", ""),
        "args": "",
        "message": "",
    }
    out = pd.DataFrame(data)
    for name, dtype in schema.pandas_dtypes().items():
        out[name] = out[name].astype(dtype)
    for name in schema.TIMESTAMP_COLUMNS:
        out[name] = out[name].astype("datetime64[us, UTC]")
    return out


# --- several hosts -------------------------------------------------------------------------------------


def host_rows(
    run_id: str, host: str, *, skew_s: float = 0.0, workers: int = 2, tasks: int = 6
) -> list[dict[str, Any]]:
    """The rows of :func:`make_run` as one host of a cluster ran them: the same pids as every other host,
    call ids prefixed with the host, times read on a clock ``skew_s`` seconds ahead of the scheduler's."""
    rows = make_run(run_id, start=T0 + pd.Timedelta(seconds=skew_s), workers=workers, tasks=tasks)
    for r in rows:
        r["host"] = host
        r["call_id"] = f"{host}-{r['call_id']}"
        r["parent_id"] = f"{host}-{r['parent_id']}" if r["parent_id"] else ""
    return rows


def clock_offset_line(run_id: str, host: str, offset_s: float, at: pd.Timestamp) -> dict[str, Any]:
    """A host's offset to the scheduler's clock as timing.log holds it (scheduler = host + offset_s)."""
    return {
        "timestamp": iso(at),
        "level": "INFO",
        "event": "clock_offset",
        "offset_s": offset_s,
        "host": host,
        "pid": 4242,
        "run_id": run_id,
        "message": repr(offset_s),
    }


def write_hosts(root: Path, run_id: str, skews: dict[str, float]) -> dict[str, list[dict[str, Any]]]:
    """A multi-host root: ``root/host=<name>/`` per host, one run, each host's clock ``skews[name]`` ahead
    of the scheduler's, with three clock_offset samples per host around ``-skew`` (the median is exact)."""
    written = {}
    for host, skew in skews.items():
        rows = host_rows(run_id, host, skew_s=skew)
        log_dir = root / f"host={host}"
        write_run(log_dir, rows, tag="cluster")
        at = pd.Timestamp(rows[0]["start_time"])
        samples = (-skew - 0.004, -skew, -skew + 0.003)
        write_jsonl(log_dir / schema.TIMING_LOG, [clock_offset_line(run_id, host, s, at) for s in samples])
        written[host] = rows
    return written


def write_two_runs(log_dir: Path) -> TwoRuns:
    """Write runs A and B into ``log_dir``."""
    rows_a = make_run(RUN_A, workers=3, tasks=10)
    rows_b = make_run(RUN_B, start=T0 + pd.Timedelta(hours=1), workers=4, tasks=15, pid_base=2000)
    write_run(log_dir, rows_a, tag="first")
    write_run(log_dir, rows_b, tag="second", rotate=3)
    return log_dir, rows_a, rows_b
