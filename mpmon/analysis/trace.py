"""A run's calls as a Chrome trace (Trace Event Format JSON), to open in Perfetto or chrome://tracing.

Each call is one complete (``"ph": "X"``) slice: name = function, cat = source, on a lane (``tid``) of its
process (``pid``), with ``call_id``, ``parent_id``, ``status``, ``error_type``, ``duration_s``,
``cpu_time_s`` and ``mem_delta_mib`` in ``args``; an error call is coloured ``"cname": "terrible"``.
``process_name`` and ``thread_name`` metadata events label the tracks. A process is a (host, pid) pair:
when the run spans several hosts the trace pid is ``host number x 10,000,000 + pid``, so two hosts'
pid 7 are two processes, labelled with their real pid and host.

Times are integer microseconds since the run's first call start (``otherData.start_time`` holds that
instant), each host's times shifted by its clock offset to the scheduler (:func:`.hosts.aligned_micros`).
Perfetto turns a fractional ``ts`` into nanoseconds through a double and truncates, so only
integers keep nesting exact. Slices on one lane must nest. A child that pokes out of its parent by at most
:data:`NEST_TOLERANCE_US` (the two clocks' rounding) is clamped into it; calls that overlap without nesting
(coroutines, generators, manual hooks, a child that outlives its parent) go to extra lanes of their
thread, named ``"MainThread [2]"`` and so on. Events are built column-wise as Arrow strings and streamed to
the file in chunks, so a million calls take a few seconds. Where each slice goes (nesting, lanes, tids)
is worked out in trace_layout.py; this module turns rows into the trace's JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa
import pyarrow.compute as pc

from mpmon.analysis._convert import to_micros
from mpmon.analysis.hosts import aligned_micros
from mpmon.analysis.trace_layout import NEST_TOLERANCE_US, IntArray, Layout, lay_out

__all__ = ["NEST_TOLERANCE_US", "TRACE_FORMAT", "to_chrome_trace"]

TRACE_FORMAT = "mpmon-chrome-trace/1"
CHUNK_ROWS = 100_000  # events built and written per step: bounds memory on big runs
HOST_PID_STRIDE = 10_000_000  # trace pid = host number x this + pid, when there are several hosts
ERROR_COLOUR = "terrible"  # the trace viewer's reserved red

_I64 = np.dtype(np.int64)
_PLAIN_TEXT = r"^[ !#-\[\]-~]*$"  # printable ASCII but '"' and '\': JSON-safe inside quotes as is
_STRINGS = ("function", "source", "call_id", "parent_id", "status", "error_type", "thread_name")
_FLOATS = ("duration_s", "cpu_time_s", "mem_delta_mib")


def to_chrome_trace(
    df: pd.DataFrame,
    path: str | Path,
    clock_offsets: dict[str, float] | None = None,
    hosts: list[str] | None = None,
) -> Path:
    """Write the call rows ``df`` (as :func:`~mpmon.analysis.load_run` returns them) as a Chrome trace.

    One ``X`` event per row with a start time, sorted by ``ts`` (a parent before its children); returns
    the path written. ``clock_offsets`` (host -> seconds to the scheduler's clock) defaults to the
    offsets the loader put in ``df.attrs``; ``hosts`` numbers the hosts for their trace pids (default:
    in order of appearance), so that the files of one run written part by part agree.
    """
    table = _arrow(df, clock_offsets, hosts)
    layout = lay_out(table)
    path = Path(path)
    with path.open("wb") as fh:
        fh.write(_header(table, layout).encode())
        fh.write(",\n".join(json.dumps(m, separators=(",", ":")) for m in layout.metadata).encode())
        _write_slices(fh, table, layout)
        fh.write(b"\n]}\n")
    return path


# --- the rows ------------------------------------------------------------------------------------------


def _arrow(df: pd.DataFrame, offsets: dict[str, float] | None, hosts: list[str] | None = None) -> pa.Table:
    """The columns a trace needs as Arrow: strings without nulls, times as UTC on the scheduler's clock,
    a trace pid per (host, pid), rows without a start time left out."""
    start = _utc(df["start_time"])
    keep = start.notna().to_numpy()
    frame = df[keep] if not keep.all() else df

    def column(name: str, missing: Any) -> pd.Series:
        return frame[name] if name in frame.columns else pd.Series(missing, index=frame.index)

    times = pd.DataFrame(
        {"start_time": start[keep], "end_time": _utc(column("end_time", pd.NaT)), "host": column("host", "")}
    )
    offsets = offsets if offsets is not None else df.attrs.get("mpmon", {}).get("clock_offsets")
    end = _end_micros(times["end_time"])
    known = end != np.iinfo(np.int64).min
    end[known] = aligned_micros(times, "end_time", offsets)[known] if known.any() else end[known]
    columns: dict[str, Any] = {
        "start_us": aligned_micros(times, "start_time", offsets),
        "end_us": end,
        "pid": pd.to_numeric(column("pid", -1), errors="coerce").fillna(-1).to_numpy(_I64),
    }
    for name in _FLOATS:
        columns[name] = pd.to_numeric(column(name, np.nan), errors="coerce").to_numpy(np.float64)
    for name in (*_STRINGS, "process_name", "host", "run_id"):
        text = pa.array(column(name, ""), from_pandas=True)
        columns[name] = pc.fill_null(text.cast(pa.string()), "")
    columns["trace_pid"] = _trace_pids(columns["pid"], columns["host"], hosts)
    return pa.table(columns)


def _trace_pids(pids: IntArray, host: pa.Array, hosts: list[str] | None = None) -> IntArray:
    """A trace pid per (host, pid): the pid itself on one host, else host number x stride + pid (the
    host's place in ``hosts`` when given, else its order of appearance)."""
    if hosts is not None:
        codes = np.asarray(pc.fill_null(pc.index_in(host, value_set=pa.array(hosts, pa.string())), 0))
        return pids if len(hosts) <= 1 else codes.astype(_I64) * HOST_PID_STRIDE + HOST_PID_STRIDE + pids
    codes, names = pd.factorize(np.asarray(host.to_numpy(zero_copy_only=False), dtype=object))
    if len(names) <= 1:
        return pids
    return np.asarray(codes, dtype=_I64) * HOST_PID_STRIDE + HOST_PID_STRIDE + pids


def _utc(times: pd.Series) -> pd.Series:
    """A time column as UTC microsecond timestamps (ISO text is parsed; naive times are taken as UTC)."""
    if not isinstance(times.dtype, pd.DatetimeTZDtype):
        times = pd.to_datetime(times, utc=True, format="ISO8601", errors="coerce")
    return times.dt.tz_convert("UTC").astype("datetime64[us, UTC]")


def _end_micros(times: pd.Series) -> IntArray:
    """End times in microseconds since the epoch; a missing one as the int64 minimum."""
    micros = to_micros(times)
    micros[times.isna().to_numpy()] = np.iinfo(np.int64).min
    return micros


# --- writing -------------------------------------------------------------------------------------------


def _header(table: pa.Table, layout: Layout) -> str:
    """The opening of the JSON object, up to the first event: displayTimeUnit first (Perfetto wants it
    before the events), then otherData, then the events array (Perfetto stops at a key it does not know)."""
    run_ids = [r for r in table["run_id"].unique().to_pylist() if r]
    other = {
        "format": TRACE_FORMAT,
        "generator": "mpmon.analysis",
        "run_ids": sorted(run_ids),
        "start_time": pd.Timestamp(layout.t0_us, unit="us", tz="UTC").isoformat(),
        "time_unit": "microseconds since start_time",
        "calls": table.num_rows,
    }
    head = json.dumps({"displayTimeUnit": "ms", "otherData": other}, separators=(",", ":"))
    return head[:-1] + ',"traceEvents":[\n'


def _write_slices(fh: IO[bytes], table: pa.Table, layout: Layout) -> None:
    """Every X event, sorted by start (longest first at equal starts, then by tid), in chunks."""
    order = np.lexsort((layout.tid, -layout.dur, layout.ts))
    for begin in range(0, len(order), CHUNK_ROWS):
        rows = order[begin : begin + CHUNK_ROWS]
        chunk = table.take(pa.array(rows))
        text = _slice_text(chunk, layout.ts[rows], layout.dur[rows], layout.tid[rows])
        fh.write(_concatenated(text))


def _slice_text(chunk: pa.Table, ts: IntArray, dur: IntArray, tid: IntArray) -> pa.Array:
    """One JSON object per row, each preceded by ``,\\n`` (the metadata events always come first)."""
    error = pc.equal(chunk["status"], "error")
    pieces = [
        ',\n{"name":',
        _json_text(chunk["function"]),
        ',"cat":',
        _json_text(chunk["source"]),
        ',"ph":"X","ts":',
        _numbers(ts),
        ',"dur":',
        _numbers(dur),
        ',"pid":',
        _numbers(chunk["trace_pid"]),
        ',"tid":',
        _numbers(tid),
        pc.if_else(error, f',"cname":"{ERROR_COLOUR}"', ""),
        ',"args":{"call_id":',
        _json_text(chunk["call_id"]),
        ',"parent_id":',
        _json_text(chunk["parent_id"]),
        ',"status":',
        _json_text(chunk["status"]),
        ',"error_type":',
        _json_text(chunk["error_type"]),
    ]
    for name in _FLOATS:
        pieces += [f',"{name}":', _numbers(chunk[name])]
    return pc.binary_join_element_wise(*pieces, "}}", "")


def _json_text(values: pa.ChunkedArray) -> pa.Array:
    """Strings as JSON string literals: plain ones quoted as they are, the rest through :func:`json.dumps`."""
    values = values.combine_chunks()
    plain = pc.match_substring_regex(values, _PLAIN_TEXT)
    quoted = pc.binary_join_element_wise('"', values, '"', "")
    other = pc.invert(plain)
    if not pc.any(other).as_py():
        return quoted
    escaped = [json.dumps(v) for v in values.filter(other).to_pylist()]
    return pc.replace_with_mask(quoted, other, pa.array(escaped, quoted.type))


def _numbers(values: Any) -> pa.Array:
    """Numbers as JSON text; NaN, infinities and missing values as ``null``."""
    array = pa.array(values) if isinstance(values, np.ndarray) else values.combine_chunks()
    if pa.types.is_floating(array.type):
        finite = pc.fill_null(pc.is_finite(array), False)
        return pc.if_else(finite, array.cast(pa.string()), "null")
    return array.cast(pa.string())


def _concatenated(text: pa.Array | pa.ChunkedArray) -> memoryview:
    """The strings of an Arrow string array end to end: a view of its data buffer, no copy (a chunk's
    text stays far below the 2 GiB that 32-bit offsets address)."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset : text.offset + len(text) + 1]
    data = text.buffers()[2]
    return memoryview(b"") if data is None else memoryview(data)[int(offsets[0]) : int(offsets[-1])]
