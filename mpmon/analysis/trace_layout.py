"""Where each call of a Chrome trace goes: its start and duration, and the lane (tid) it is drawn on.

Slices on one lane must nest. A child that pokes out of its parent by at most :data:`NEST_TOLERANCE_US`
(the two clocks' rounding) is clamped into it; calls that overlap without nesting (coroutines,
generators, manual hooks, a child that outlives its parent) go to extra lanes of their thread. All of
it is numpy work on whole columns (integer microseconds), but the first-fit placement of the calls of
threads whose calls overlap. trace.py writes the result as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["NEST_TOLERANCE_US", "IntArray", "Layout", "lay_out"]

NEST_TOLERANCE_US = 1_000
"""A child poking out of its parent by at most this (microseconds) is clamped into it; further, it is
laid out on its own (a generator consumed after its parent returned, a clock step)."""

_I64 = np.dtype(np.int64)
IntArray = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True)
class Layout:
    """Where every slice goes: its start and duration (us, from ``t0``) and its lane's tid."""

    ts: IntArray
    dur: IntArray
    tid: IntArray
    t0_us: int
    metadata: list[dict[str, Any]]


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


def lay_out(table: pa.Table) -> Layout:
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
    return Layout(ts, end - ts, tid, t0, metadata)


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
