"""How long ``mpmon-analyze`` takes, and how much memory, on 1,000,000 and 10,000,000 rows (CSV, Parquet).

``run()`` writes a synthetic log directory in the collector's formats (50 functions, 8 worker processes,
nested calls, about 1% errors, untracked functions, a rotated ``timing.log`` holding the newest ~60 MB
of call lines as the default rotation keeps, and ``error.log``), once with the CSV results table and once
with the Parquet dataset, then runs ``python -m mpmon.analysis`` on each in a fresh wrapper process that
reports the wall time and the peak RSS of its child (``RUSAGE_CHILDREN``). Targets (issue 21): 1M rows
under 4 s; 10M rows under 20 s (CSV) and 10 s (Parquet) and 1 GB; 100M rows (Parquet) under 2 min and
1.5 GB. ``--formats parquet`` measures one format only. Big runs are written in chunks of a million
rows (one after the other in time, 8 processes each), so writing them never holds more than a chunk.
With ``--data DIR`` the log directories are kept in ``DIR/<rows>-<format>/logs`` and reused by later
runs (10M rows take about 4 GB of CSV and some minutes to write).

    python benchmarks/bench_analysis.py [rows] [repetitions] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from mpmon import schema

TARGETS = {  # rows -> format -> (wall s, peak RSS MiB): issue 21
    1_000_000: {"csv": (4.0, 1024.0), "parquet": (4.0, 1024.0)},
    10_000_000: {"csv": (20.0, 1000.0), "parquet": (10.0, 1000.0)},
    100_000_000: {"csv": (120.0, 1500.0), "parquet": (120.0, 1500.0)},
}
CHUNK_ROWS = 1_000_000
FUNCTIONS = 50
PROCESSES = 8
TIMING_LOG_LINES = 80_000  # about six 10 MiB files: what the default rotation keeps
RUN_ID = "20261125T180000Z-bench0"
_T0_US = 1_795_629_600_000_000  # 2026-11-25T18:00:00Z

# Measures one command in a fresh interpreter, so RUSAGE_CHILDREN holds that command's peak alone; its
# CPU seconds (user + system) say more than the wall time on a machine shared with other work.
_WRAPPER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
                  "peak_rss_mb": usage.ru_maxrss / 1024, "returncode": done.returncode,
                  "stderr": done.stderr[-2000:]}))
"""


def synthetic_columns(rows: int, seed: int = 0, t0_us: int = _T0_US) -> dict[str, Any]:
    """Columns of a synthetic run (numpy arrays; times in microseconds since the epoch)."""
    rng = np.random.default_rng(seed)
    outer = rows * 4 // 5  # top-level calls; the rest are nested one level inside some of them
    function = rng.integers(0, FUNCTIONS, outer)
    median = np.geomspace(2e-5, 0.05, FUNCTIONS)[function]
    duration = median * rng.lognormal(0.0, 0.6, outer)
    pid = rng.integers(0, PROCESSES, outer)
    order = np.argsort(pid, kind="stable")
    function, duration, pid = function[order], duration[order], pid[order]
    gap = rng.exponential(2e-5, outer)
    busy = duration + gap
    ends = np.cumsum(busy)
    per_pid_start = np.r_[0.0, ends][np.searchsorted(pid, np.arange(PROCESSES))]
    start = ends - busy - per_pid_start[pid]
    nested = rng.choice(outer, rows - outer, replace=False)
    start_us = np.r_[start * 1e6, start[nested] * 1e6 + duration[nested] * 1e5].astype(np.int64) + t0_us
    duration = np.r_[duration, duration[nested] * 0.5]
    parent = np.r_[np.full(outer, -1), nested]
    return {
        "function": np.r_[function, (function[nested] + 1) % FUNCTIONS],
        "pid": np.r_[pid, pid[nested]] + 4000,
        "start_us": start_us,
        "end_us": start_us + (duration * 1e6).astype(np.int64),
        "duration": duration,
        "parent": parent,
        "error": rng.random(rows) < np.where(np.r_[function, function[nested]] % 10 == 3, 0.05, 0.0),
        "mem": np.round(rng.normal(0.05, 0.5, rows) * (rng.random(rows) < 0.3), 4),
        "rng": rng,
    }


def synthetic_table(rows: int, seed: int = 0, first_id: int = 0, t0_us: int = _T0_US) -> pa.Table:
    """A synthetic run as an Arrow table with the schema's types (call ids numbered from ``first_id``)."""
    c = synthetic_columns(rows, seed, t0_us)
    n = len(c["duration"])
    numbers = pa.array(np.arange(first_id, first_id + n)).cast(pa.string())
    ids = pc.binary_join_element_wise("3aff1762-e850-44ae-9770-", pc.utf8_lpad(numbers, 12, "0"), "")
    parent = pc.if_else(pa.array(c["parent"] >= 0), pc.take(ids, np.maximum(c["parent"], 0)), "")
    names = np.array(
        [
            f"stage_{i:02d}_{'load' if i % 3 == 0 else 'compute' if i % 3 == 1 else 'write'}"
            for i in range(FUNCTIONS)
        ]
    )
    function = pa.array(names[c["function"]])
    tracked = (c["function"] % 7) != 5
    cpu = np.where(tracked, c["duration"] * np.where(c["function"] % 3 == 1, 0.97, 0.2), np.nan)
    status = np.where(c["error"], "error", "ok")
    kinds = np.array(["ValueError", "KeyError", "TimeoutError"])[c["rng"].integers(0, 3, n)]
    duration_text = pc.round(pa.array(c["duration"]), 6).cast(pa.string())
    columns = {
        "run_id": pa.array(np.full(n, RUN_ID)),
        "call_id": ids,
        "parent_id": parent,
        "source": pa.array(np.full(n, "timer")),
        "function": function,
        "module": pa.array(np.full(n, "bench.pipeline")),
        "start_time": pa.array(c["start_us"], pa.timestamp("us", tz="UTC")),
        "end_time": pa.array(c["end_us"], pa.timestamp("us", tz="UTC")),
        "duration_s": pa.array(c["duration"]),
        "cpu_time_s": pa.array(cpu, from_pandas=False),
        "mem_delta_mib": pa.array(np.where(tracked, c["mem"], np.nan)),
        "mem_final_mib": pa.array(np.where(tracked, 60 + (c["pid"] % 8) * 3.5, np.nan)),
        "pid": pa.array(c["pid"]),
        "process_name": pa.array(np.char.add("ForkPoolWorker-", (c["pid"] - 3999).astype(str))),
        "thread_name": pa.array(np.full(n, "MainThread")),
        "host": pa.array(np.full(n, "benchhost")),
        "status": pa.array(status),
        "error_type": pa.array(np.where(c["error"], kinds, "")),
        "args": pa.array(np.full(n, '{"args":["<chunk 4096 rows>"],"kwargs":{"retries":"3"}}')),
        "message": pc.binary_join_element_wise(function, " finished in ", duration_text, " s", ""),
    }
    return pa.table(columns, schema=schema.arrow_schema())


def _with_text_times(table: pa.Table) -> pa.Table:
    """The table with its timestamps as the collector's ISO text (``...T18:00:00.000123+00:00``)."""
    for name in schema.TIMESTAMP_COLUMNS:
        text = pc.binary_join_element_wise(pc.strftime(table[name], format="%Y-%m-%dT%H:%M:%S"), "+00:00", "")
        table = table.set_column(table.schema.get_field_index(name), name, text)
    return table


def chunks(rows: int) -> Iterator[pa.Table]:
    """The synthetic run in tables of up to CHUNK_ROWS rows, each starting where the previous one ended."""
    t0_us, done = _T0_US, 0
    while done < rows:
        table = synthetic_table(
            min(CHUNK_ROWS, rows - done), seed=done // CHUNK_ROWS, first_id=done, t0_us=t0_us
        )
        t0_us = int(pc.max(table["end_time"]).cast(pa.int64()).as_py()) + 1_000
        done += table.num_rows
        yield table


def write_log_dir(log_dir: Path, tables: Iterable[pa.Table], results_format: str) -> None:
    """Write the run as the collector would: results table, rotated timing.log, error.log."""
    log_dir.mkdir(parents=True, exist_ok=True)
    last, first = None, None
    with (log_dir / schema.ERROR_LOG).open("w", encoding="utf-8") as errors:
        for number, table in enumerate(tables):
            _write_results(log_dir, table, results_format, number)
            failed = table.filter(pc.equal(table["status"], "error"))
            errors.writelines(
                json.dumps(_error_line(r), separators=(",", ":")) + "\n" for r in _text_rows(failed)
            )
            first = table["start_time"][0].as_py() if first is None else first
            last = table
    if last is not None:
        _write_timing_log(log_dir, last, first)


def _write_results(log_dir: Path, table: pa.Table, results_format: str, number: int) -> None:
    """Append one chunk to the CSV table, or write it as one part of the Parquet dataset."""
    if results_format == "csv":
        with (log_dir / schema.RESULTS_CSV).open("ab") as fh:
            if number == 0:
                fh.write((schema.CSV_HEADER + "\n").encode())
            pa_csv.write_csv(
                _with_text_times(table), fh, write_options=pa_csv.WriteOptions(include_header=False)
            )
    else:
        (log_dir / schema.RESULTS_PARQUET).mkdir(exist_ok=True)
        part = log_dir / schema.RESULTS_PARQUET / f"part-{RUN_ID}-{number}.parquet"
        pq.write_table(table, part, row_group_size=65_536)


def _text_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as dicts with ISO text times, as the JSON logs hold them."""
    rows: list[dict[str, Any]] = _with_text_times(table).to_pylist()
    return rows


def _write_timing_log(log_dir: Path, table: pa.Table, first: Any) -> None:
    """timing.log (the newest calls, run events) in 6 rotated files."""
    tail = _text_rows(table.slice(max(0, table.num_rows - TIMING_LOG_LINES)))
    first = pc.strftime(pa.array([first], table["start_time"].type), format="%Y-%m-%dT%H:%M:%S")[0].as_py()
    first, last = first + "+00:00", tail[-1]["end_time"]
    lines = [
        json.dumps(
            {"timestamp": first, "level": "INFO", "event": "run_start", "run_id": RUN_ID, "tag": "bench"}
        )
    ]
    lines += [json.dumps(_call_line(r), separators=(",", ":")) for r in tail]
    lines.append(
        json.dumps(
            {"timestamp": last, "event": "run_summary", "run_id": RUN_ID, "tag": "bench", "dropped": 0}
        )
    )
    size = -(-len(lines) // 6)
    for i, name in enumerate([f"{schema.TIMING_LOG}.{n}" for n in range(5, 0, -1)] + [schema.TIMING_LOG]):
        (log_dir / name).write_text("\n".join(lines[i * size : (i + 1) * size]) + "\n", encoding="utf-8")


def _call_line(r: dict[str, Any]) -> dict[str, Any]:
    """A timing.log call line for a row."""
    level = "ERROR" if r["status"] == "error" else "INFO"
    values = {k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
    return {"timestamp": r["end_time"], "level": level, "event": "call", "uuid": r["call_id"], **values}


def _error_line(r: dict[str, Any]) -> dict[str, Any]:
    """An error.log entry for a failed row."""
    entry = {k: r.get(k, "") for k in schema.ERROR_LOG_KEYS}
    entry.update(timestamp=r["end_time"], level="ERROR", uuid=r["call_id"], error_message="synthetic")
    entry["traceback"] = f"Traceback (most recent call last):\n{r['error_type']}: synthetic\n"
    return entry


def measure(log_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Wall seconds and peak RSS (MB) of one ``python -m mpmon.analysis`` run, in a fresh wrapper."""
    command = [sys.executable, "-m", "mpmon.analysis", "--logdir", str(log_dir), "--out", str(out_dir)]
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *command], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    if result["returncode"] != 0:
        raise RuntimeError(f"mpmon-analyze failed: {result['stderr']}")
    return result


def log_dir_for(data: Path, rows: int, fmt: str) -> Path:
    """The log directory of ``rows`` rows in ``fmt`` under ``data``, written now unless complete."""
    log_dir = data / f"{rows}-{fmt}" / "logs"
    done = log_dir.parent / "complete"
    if not done.exists():
        if log_dir.exists():
            shutil.rmtree(log_dir)
        write_log_dir(log_dir, chunks(rows), fmt)
        done.write_text(f"{rows} rows\n")
    return log_dir


def run(
    rows: int = 1_000_000,
    repetitions: int = 1,
    data: Path | None = None,
    formats: tuple[str, ...] = ("csv", "parquet"),
) -> dict[str, Any]:
    """Time ``mpmon-analyze`` on ``rows`` synthetic calls, CSV and Parquet; the best of ``repetitions``.

    ``data`` keeps (and reuses) the generated log directories; by default they go to a temporary folder.
    """
    targets = TARGETS.get(rows, TARGETS[min(TARGETS, key=lambda n: abs(n - rows))])
    results: dict[str, Any] = {"rows": rows, "functions": FUNCTIONS, "processes": PROCESSES}
    with tempfile.TemporaryDirectory(prefix="mpmon-bench-analysis-") as tmp:
        for fmt in formats:
            started = time.perf_counter()
            log_dir = log_dir_for(data or Path(tmp), rows, fmt)
            write_s = time.perf_counter() - started
            runs = [measure(log_dir, Path(tmp) / fmt / f"report-{i}") for i in range(repetitions)]
            best = min(runs, key=lambda r: r["wall_s"])
            results[fmt] = {
                "wall_s": round(best["wall_s"], 2),
                "cpu_s": round(min(r["cpu_s"] for r in runs), 2),
                "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
                "write_s": round(write_s, 2),
                "log_dir_mb": round(
                    sum(p.stat().st_size for p in log_dir.rglob("*") if p.is_file()) / 2**20, 1
                ),
            }
    results["targets"] = {f: {"wall_s": targets[f][0], "peak_rss_mb": targets[f][1]} for f in formats}
    results["ok"] = all(
        results[f]["wall_s"] < targets[f][0] and results[f]["peak_rss_mb"] < targets[f][1] for f in formats
    )
    results["load_average"] = [round(x, 1) for x in os.getloadavg()]
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int, nargs="?", default=1_000_000)
    parser.add_argument("repetitions", type=int, nargs="?", default=1)
    parser.add_argument("--data", type=Path, help="keep and reuse the generated log directories here")
    parser.add_argument("--formats", default="csv,parquet", help="comma-separated: csv, parquet")
    options = parser.parse_args()
    formats = tuple(options.formats.split(","))
    print(json.dumps(run(options.rows, options.repetitions, options.data, formats), indent=2))
