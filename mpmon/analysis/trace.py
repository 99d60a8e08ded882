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
the file in chunks, so a million calls take a few seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa
import pyarrow.compute as pc

from mpmon.analysis._convert import to_micros
from mpmon.analysis.hosts import aligned_micros

__all__ = ["NEST_TOLERANCE_US", "TRACE_FORMAT", "to_chrome_trace"]

NEST_TOLERANCE_US = 1_000
"""A child poking out of its parent by at most this (microseconds) is clamped into it; further, it is
laid out on its own (a generator consumed after its parent returned, a clock step)."""

TRACE_FORMAT = "mpmon-chrome-trace/1"
CHUNK_ROWS = 100_000  # events built and written per step: bounds memory on big runs
HOST_PID_STRIDE = 10_000_000  # trace pid = host number x this + pid, when there are several hosts
ERROR_COLOUR = "terrible"  # the trace viewer's reserved red

_I64 = np.dtype(np.int64)
IntArray = np.ndarray[Any, np.dtype[np.int64]]
_PLAIN_TEXT = r"^[ !#-\[\]-~]*$"  # printable ASCII but '"' and '\': JSON-safe inside quotes as is
_STRINGS = ("function", "source", "call_id", "parent_id", "status", "error_type", "thread_name")
_FLOATS = ("duration_s", "cpu_time_s", "mem_delta_mib")


@dataclass(frozen=True)
class _Layout:
    """Where every slice goes: its start and duration (us, from ``t0``) and its lane's tid."""

    ts: IntArray
    dur: IntArray
    tid: IntArray
    t0_us: int
    metadata: list[dict[str, Any]]


def to_chrome_trace(
    df: pd.DataFrame, path: str | Path, clock_offsets: dict[str, float] | None = None
) -> Path:
    """Write the call rows ``df`` (as :func:`~mpmon.analysis.load_run` returns them) as a Chrome trace.

    One ``X`` event per row with a start time, sorted by ``ts`` (a parent before its children); returns
    the path written. ``clock_offsets`` (host -> seconds to the scheduler's clock) defaults to the
    offsets the loader put in ``df.attrs``.
    """
    table = _arrow(df, clock_offsets)
    layout = _layout(table)
    path = Path(path)
    with path.open("wb") as fh:
        fh.write(_header(table, layout).encode())
        fh.write(",\n".join(json.dumps(m, separators=(",", ":")) for m in layout.metadata).encode())
        _write_slices(fh, table, layout)
        fh.write(b"\n]}\n")
    return path


# --- the rows ------------------------------------------------------------------------------------------


def _arrow(df: pd.DataFrame, offsets: dict[str, float] | None) -> pa.Table:
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
    columns["trace_pid"] = _trace_pids(columns["pid"], columns["host"])
    return pa.table(columns)


def _trace_pids(pids: IntArray, host: pa.Array) -> IntArray:
    """A trace pid per (host, pid): the pid itself on one host, else host number x stride + pid."""
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


def _durations(table: pa.Table) -> IntArray:
    """Each call's duration in whole microseconds: end - start, else ``duration_s``, else 0.

    The collector truncates both times to the microsecond, which keeps their order: calls one after the
    other stay apart, where rounding ``duration_s`` would make them overlap by a microsecond.
    """
    start, end = _ints(table, "start_us"), _ints(table, "end_us")
    measured = np.nan_to_num(table["duration_s"].to_numpy(), nan=0.0, posinf=0.0, neginf=0.0)
    known = end != np.iinfo(np.int64).min
    return np.maximum(np.where(known, end - start, np.floor(measured * 1e6)), 0).astype(_I64)


def _ints(table: pa.Table, name: str) -> IntArray:
    """An int64 column as numpy."""
    return np.asarray(table[name].to_numpy(), dtype=_I64)


# --- layout: nesting, lanes, tids ----------------------------------------------------------------------


def _layout(table: pa.Table) -> _Layout:
    """Clamp children into parents, split overlapping calls onto extra lanes, number the lanes."""
    start = _ints(table, "start_us")
    t0 = int(start.min()) if len(start) else 0
    ts, end = start - t0, start - t0 + _durations(table)
    pids = _ints(table, "trace_pid")
    thread = _thread_codes(pids, table["thread_name"])
    parent = _parents(table, thread, ts)
    parent = _clamp(ts, end, parent)
    lane = _lanes(ts, end, thread, parent)
    tid, metadata = _tids(table, ts, pids, thread, lane)
    return _Layout(ts, end - ts, tid, t0, metadata)


def _thread_codes(pids: IntArray, names: pa.ChunkedArray) -> IntArray:
    """A code per (pid, thread name): the thread a call ran in."""
    name_codes, uniques = pd.factorize(np.asarray(names.to_numpy(zero_copy_only=False), dtype=object))
    pid_codes, _ = pd.factorize(pids)
    codes, _ = pd.factorize(pid_codes.astype(_I64) * max(len(uniques), 1) + name_codes)
    return np.asarray(codes, dtype=_I64)


def _parents(table: pa.Table, thread: IntArray, ts: IntArray) -> IntArray:
    """Each row's parent row, or -1: only a parent in the same thread, started no later (give or take
    :data:`NEST_TOLERANCE_US`), counts."""
    found = pc.index_in(table["parent_id"], value_set=table["call_id"].combine_chunks())
    parent = np.asarray(pc.fill_null(found, -1).to_numpy(), dtype=_I64)
    parent[np.asarray(pc.equal(table["parent_id"], "").to_numpy(zero_copy_only=False), dtype=bool)] = -1
    child = np.flatnonzero(parent >= 0)
    up = parent[child]
    wrong = (thread[up] != thread[child]) | (ts[up] > ts[child] + NEST_TOLERANCE_US) | (up == child)
    parent[child[wrong]] = -1
    return parent


def _depths(parent: IntArray) -> IntArray:
    """How many ancestors each row has, by pointer jumping (log2 of the depth rounds of numpy work).

    Rows whose chain never ends (corrupt, looping parent ids) lose their parent first: ``parent`` is
    changed in place.
    """
    rounds = max(len(parent), 1).bit_length() + 1  # more than enough for any chain that ends
    while True:
        depth, up = (parent >= 0).astype(_I64), parent.copy()
        for _ in range(rounds):
            linked = np.flatnonzero(up >= 0)
            if not linked.size:
                return depth
            above = up[linked]
            depth[linked] += depth[above]
            up[linked] = up[above]
        parent[up >= 0] = -1


def _clamp(ts: IntArray, end: IntArray, parent: IntArray) -> IntArray:
    """Clamp children into their parents, top down (``ts`` and ``end`` in place); return the parents
    kept: a child poking out by more than :data:`NEST_TOLERANCE_US` keeps its times and loses its parent."""
    parent = parent.copy()
    depth = _depths(parent)
    order = np.argsort(depth, kind="stable")
    bounds = np.searchsorted(depth[order], np.arange(int(depth.max(initial=0)) + 2))
    for level in range(1, len(bounds) - 1):
        rows = order[bounds[level] : bounds[level + 1]]
        up = parent[rows]
        lo, hi = ts[up], end[up]
        poke = np.maximum(lo - ts[rows], end[rows] - hi)
        fits = poke <= NEST_TOLERANCE_US
        start = np.clip(ts[rows], lo, hi)
        ts[rows[fits]] = start[fits]
        end[rows[fits]] = np.clip(end[rows], start, hi)[fits]
        parent[rows[~fits]] = -1
    return parent


def _lanes(ts: IntArray, end: IntArray, thread: IntArray, parent: IntArray) -> IntArray:
    """Lane 0 for every call of a thread whose calls nest; first-fit lanes in threads where some overlap."""
    lane = np.zeros(len(ts), dtype=_I64)
    for code in _tangled_threads(ts, end, thread, parent):
        rows = np.flatnonzero(thread == code)
        up = parent[rows]
        local = np.where(up >= 0, np.searchsorted(rows, up), -1)  # parents are in the same thread
        lane[rows] = _first_fit(ts[rows], end[rows], local)
    return lane


def _tangled_threads(ts: IntArray, end: IntArray, thread: IntArray, parent: IntArray) -> IntArray:
    """Threads with overlapping siblings (calls of one parent, or a thread's top-level calls).

    Children lie inside their parents (clamped), so calls nest exactly when no two siblings overlap.
    """
    siblings = np.where(parent >= 0, parent, -1 - thread)
    order = np.lexsort((ts - end, ts, siblings))
    same = siblings[order][1:] == siblings[order][:-1]
    overlap = same & (end[order][:-1] > ts[order][1:])
    return np.unique(thread[order][1:][overlap])


def _first_fit(ts: IntArray, end: IntArray, parent: IntArray) -> IntArray:
    """Lanes for one thread's calls, taken by start (longest first): each goes to its parent's lane if it
    nests there, else to the first lane where it nests, else to a new one."""
    order = np.lexsort((ts - end, ts))
    lanes: list[list[int]] = []  # per lane, the ends of its open calls (a stack)
    placed = [-1] * len(ts)
    for row, start, stop, up in zip(
        order.tolist(), ts[order].tolist(), end[order].tolist(), parent[order].tolist(), strict=True
    ):
        home = (placed[up],) if up >= 0 and placed[up] >= 0 else ()
        number = next((k for k in (*home, *range(len(lanes))) if _fits(lanes[k], start, stop)), len(lanes))
        if number == len(lanes):
            lanes.append([])
        lanes[number].append(stop)
        placed[row] = number
    return np.asarray(placed, dtype=_I64)


def _fits(stack: list[int], start: int, stop: int) -> bool:
    """Whether a call from ``start`` to ``stop`` nests on a lane: its calls ended by ``start`` are closed
    (popped), and the one still open, if any, must contain it."""
    while stack and stack[-1] <= start:
        stack.pop()
    return not stack or stack[-1] >= stop


def _tids(
    table: pa.Table, ts: IntArray, pids: IntArray, thread: IntArray, lane: IntArray
) -> tuple[IntArray, list[dict[str, Any]]]:
    """A tid per row, and the metadata events naming processes and lanes.

    Lanes are numbered 1, 2, ... in order of their process's first call, their thread's (then its name),
    then the lane, skipping any number that is a pid of the trace: Perfetto names threads by tid alone
    and takes a tid equal to a pid for that process's main thread.
    """
    if not len(ts):
        return np.zeros(0, dtype=_I64), []
    key = thread * (int(lane.max()) + 1) + lane
    keys, first_row, row_lane = np.unique(key, return_index=True, return_inverse=True)
    lanes = pd.DataFrame({"row": first_row, "lane": lane[first_row], "pid": pids[first_row]})
    lanes["name"] = table["thread_name"].take(pa.array(first_row)).to_numpy(zero_copy_only=False)
    lanes["thread_start"] = pd.Series(ts).groupby(thread).min().reindex(thread[first_row]).to_numpy()
    lanes["pid_start"] = pd.Series(ts).groupby(pids).min().reindex(lanes["pid"]).to_numpy()
    lanes = lanes.sort_values(["pid_start", "pid", "thread_start", "name", "lane"], kind="stable")
    numbers = np.arange(1, len(keys) + len(np.unique(pids)) + 1)
    lanes["tid"] = numbers[~np.isin(numbers, pids)][: len(keys)]
    tid_of_key = np.empty(len(keys), dtype=_I64)
    tid_of_key[lanes.index.to_numpy()] = lanes["tid"].to_numpy()
    return tid_of_key[row_lane.ravel()], _metadata(table, lanes)


def _metadata(table: pa.Table, lanes: pd.DataFrame) -> list[dict[str, Any]]:
    """``process_name`` / ``process_sort_index`` per pid, ``thread_name`` / ``thread_sort_index`` per lane."""
    rows = pa.array(lanes["row"].to_numpy())
    events = []
    for index, (pid, label) in enumerate(_process_labels(table, rows, lanes["pid"].tolist()).items()):
        events.append(_meta("process_name", pid, pid, {"name": label}))
        events.append(_meta("process_sort_index", pid, pid, {"sort_index": index}))
    for index, (pid, tid, lane, name) in enumerate(
        zip(lanes["pid"].tolist(), lanes["tid"].tolist(), lanes["lane"].tolist(), lanes["name"], strict=True)
    ):
        shown = (name or "thread") + (f" [{lane + 1}]" if lane else "")
        events.append(_meta("thread_name", pid, tid, {"name": shown}))
        events.append(_meta("thread_sort_index", pid, tid, {"sort_index": index}))
    return events


def _process_labels(table: pa.Table, rows: pa.Array, pids: list[int]) -> dict[int, str]:
    """Each trace pid's process name (the names, joined, if a pid was reused; with the real pid and the
    host if there are several hosts)."""
    process = table["process_name"].take(rows).to_pylist()
    several_hosts = len(table["host"].unique()) > 1
    hosts = table["host"].take(rows).to_pylist() if several_hosts else [""] * len(rows)
    real = table["pid"].take(rows).to_pylist()
    labels: dict[int, list[str]] = {}
    for pid, name, host, own in zip(pids, process, hosts, real, strict=True):
        label = (name or "process") + (f" (pid {own}) @ {host}" if host else "")
        if label not in labels.setdefault(pid, []):
            labels[pid].append(label)
    return {pid: " / ".join(names) for pid, names in labels.items()}


def _meta(name: str, pid: int, tid: int, args: dict[str, Any]) -> dict[str, Any]:
    """One metadata (``M``) event."""
    return {"name": name, "ph": "M", "ts": 0, "pid": pid, "tid": tid, "args": args}


# --- writing -------------------------------------------------------------------------------------------


def _header(table: pa.Table, layout: _Layout) -> str:
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


def _write_slices(fh: IO[bytes], table: pa.Table, layout: _Layout) -> None:
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
