"""A run's figures per second, kept by the collector from the call tables it writes anyway.

One `Aggregates` object feeds both the console's status line (console.py) and the live snapshot file
(snapshot.py). It is fed column-wise, a whole round's call table at a time (numpy over the table's
columns, no Python step per record): per function and per second of the calls' end times, a small
log-binned histogram of durations (4 bins per octave, so a percentile is within 10 % of the true value)
and the errors; per process (host, pid), its calls, busy time (top-level calls only, so nested calls are
not counted twice) and last resident memory; the slowest calls so far; the latest errors with their
messages; captured log lines by level; declared progress (`mpmon.progress`). Its memory grows with
functions and processes, not with calls: seconds older than `KEEP_SECONDS` are folded into the totals.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter, OrderedDict, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .report import say

__all__ = ["BINS", "RECENT_SECONDS", "Aggregates", "FunctionFigures", "percentile", "safely"]

BINS_PER_OCTAVE: Final = 4
BINS: Final = BINS_PER_OCTAVE * 48  # durations up to 2**48 ns (78 hours) have their own bin
RECENT_SECONDS: Final = 5
"""The "recent" figures cover this many complete seconds."""
SETTLE_SECONDS: Final = 1.5
"""A second counts as complete this long after it ended (records reach the collector within about
flush_interval, 1 s)."""
KEEP_SECONDS: Final = 16
SLOWEST: Final = 10
LATEST_ERRORS: Final = 10
TEXT: Final = 300
_BY_PYTHON: Final = 32
"""Rounds of fewer rows have their function names looked up in Python (an Arrow call costs 10-50 us)."""
"""Longest text (function name, error message) kept for the console and the snapshot."""
_SEEN_ERRORS: Final = 4096
_SLOW_COLUMNS: Final = ("function", "host", "pid")
_ERROR_COLUMNS: Final = ("call_id", "function", "error_type", "host")


def safely(step: Callable[..., object], *args: Any) -> None:
    """Run a step of the live figures (aggregates, console, snapshot): whatever it meets, it never stops
    the writer's writing; it is said on stderr (rate-limited) and skipped."""
    try:
        step(*args)
    except Exception as exc:
        say("live", f"the live figures skipped a step: {exc!r}")


def percentile(histogram: np.ndarray, q: float) -> float | None:
    """The q-quantile (0..1) of a duration histogram in seconds (its bin's middle); None if empty."""
    total = int(histogram.sum())
    if total == 0:
        return None
    index = int(np.searchsorted(np.cumsum(histogram), max(1, int(np.ceil(q * total)))))
    return float(2.0 ** ((index + 0.5) / BINS_PER_OCTAVE) / 1e9)


def _bins(durations_s: np.ndarray) -> np.ndarray:
    ns = np.maximum(durations_s * 1e9, 1.0)
    return np.minimum((np.log2(ns) * BINS_PER_OCTAVE).astype(np.int64), BINS - 1)


@dataclass
class FunctionFigures:
    """One function's figures over some seconds."""

    name: str
    calls: int
    errors: int
    p50_s: float | None
    p95_s: float | None
    total_s: float


@dataclass
class _Second:
    """The calls that ended in one second, per function index."""

    hist: np.ndarray  # (functions, BINS) counts
    errors: np.ndarray  # (functions,)
    seconds: np.ndarray  # (functions,) summed durations
    busy: defaultdict[tuple[str, int], float] = field(default_factory=lambda: defaultdict(float))
    """Per process: the seconds its top-level calls that ended in this second lasted."""

    @classmethod
    def empty(cls, functions: int) -> _Second:
        return cls(np.zeros((functions, BINS), np.int64), np.zeros(functions, np.int64), np.zeros(functions))

    def grow(self, functions: int) -> None:
        extra = functions - len(self.errors)
        if extra > 0:
            self.hist = np.vstack([self.hist, np.zeros((extra, BINS), np.int64)])
            self.errors = np.concatenate([self.errors, np.zeros(extra, np.int64)])
            self.seconds = np.concatenate([self.seconds, np.zeros(extra)])

    def add(self, other: _Second) -> None:
        self.grow(len(other.errors))
        n = len(other.errors)
        self.hist[:n] += other.hist
        self.errors[:n] += other.errors
        self.seconds[:n] += other.seconds


class _Calls(NamedTuple):
    """What the figures read of a round's calls: numpy columns, and `values(names, rows)`, the values
    of some columns at some rows (an Arrow table's or Python lists')."""

    duration: np.ndarray  # seconds
    end_us: np.ndarray
    failed: np.ndarray
    top_level: np.ndarray  # no enclosing monitored call: its time is the process's busy time
    function: np.ndarray  # indices in Aggregates.functions
    values: Callable[[tuple[str, ...], np.ndarray], dict[str, list[Any]]]


@dataclass
class Process:
    """One process (host, pid) of the run."""

    host: str
    pid: int
    name: str
    calls: int = 0
    busy_s: float = 0.0
    rss_mib: float | None = None
    last_seen: float = 0.0


class Aggregates:
    """The run's per-second figures (see the module's docstring); `add_*` take what the writer has."""

    def __init__(self) -> None:
        self.started = time.time()
        self.functions: dict[str, int] = {}
        self._seconds: dict[int, _Second] = {}
        self._older = _Second.empty(0)  # every second folded out of the window, and late records
        self.first_second: int | None = None
        self.processes: dict[tuple[str, int], Process] = {}
        self._slowest: list[tuple[float, int, dict[str, Any]]] = []  # a min-heap of the SLOWEST largest
        self._slowest_seq = 0
        self.latest_errors: deque[dict[str, Any]] = deque(maxlen=LATEST_ERRORS)
        self._error_ids: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.errors = 0  # failed calls: a results row with status "error" or a caught error, once per call
        self.log_levels: Counter[str] = Counter()
        self.progress: dict[str, dict[str, Any]] = {}

    # -- feeding ----------------------------------------------------------------------------------------

    def add_calls(
        self, table: pa.Table, parts: list[tuple[str, int, str, int]], same: dict[str, Any] | None = None
    ) -> None:
        """A round's call table, whose rows come in `parts` of (host, pid, process name, row count);
        `same`: the value of columns that hold one in every row, where the caller knows it (function,
        error_type, parent_id), read without an Arrow call."""
        count, same = table.num_rows, same or {}
        if count == 0:
            return
        if "function" in same:
            index = np.full(count, self._function(str(same["function"])), np.int64)
        else:
            index = self._function_indices(table.column("function"))
        if "error_type" in same:
            failed = np.full(count, same["error_type"] != "")
        else:
            failed = pc.binary_length(table.column("error_type")).to_numpy() > 0
        if "parent_id" in same:
            top_level = np.full(count, same["parent_id"] == "")
        else:
            top_level = pc.binary_length(table.column("parent_id")).to_numpy() == 0

        def values(names: tuple[str, ...], rows: np.ndarray) -> dict[str, list[Any]]:
            chosen = pa.array(rows, pa.int64())
            return {name: table.column(name).take(chosen).to_pylist() for name in names}

        calls = _Calls(
            table.column("duration_s").to_numpy(),
            table.column("end_time").to_numpy().view(np.int64),
            failed,
            top_level,
            index,
            values,
        )
        self._add_calls(calls, parts)

    def add_call_rows(self, columns: dict[str, list[Any]], parts: list[tuple[str, int, str, int]]) -> None:
        """add_calls() of a round of a few rows made in Python (rowwise.RowRound's columns)."""
        if not columns["call_id"]:
            return

        def values(names: tuple[str, ...], rows: np.ndarray) -> dict[str, list[Any]]:
            return {name: [columns[name][i] for i in rows.tolist()] for name in names}

        calls = _Calls(
            np.array(columns["duration_s"], np.float64),
            np.array(columns["end_time"], np.int64),
            np.array([e != "" for e in columns["error_type"]]),
            np.array([p == "" for p in columns["parent_id"]]),
            np.array([self._function(str(n)) for n in columns["function"]], np.int64),
            values,
        )
        self._add_calls(calls, parts)

    def _add_calls(self, calls: _Calls, parts: list[tuple[str, int, str, int]]) -> None:
        duration, end_us, failed, index = calls.duration, calls.end_us, calls.failed, calls.function
        end_s = end_us // 1_000_000
        bins = _bins(duration)
        low, high = int(end_s.min()), int(end_s.max())
        if low == high:
            self._add_to(low, index, bins, duration, failed)
        else:
            for second in np.unique(end_s):
                chosen = end_s == second
                self._add_to(int(second), index[chosen], bins[chosen], duration[chosen], failed[chosen])
        self._add_processes(parts, duration * calls.top_level, calls, high)
        self._add_slowest(calls)
        if failed.any():
            self._add_failed_rows(calls, np.flatnonzero(failed))

    def _function_indices(self, names: pa.ChunkedArray) -> np.ndarray:
        if len(names) < _BY_PYTHON:  # a few rows: a Python loop costs less than dictionary_encode
            return np.array([self._function(str(n)) for n in names.to_pylist()], np.int64)
        encoded = pc.dictionary_encode(names).combine_chunks()
        lookup = np.array([self._function(str(n)) for n in encoded.dictionary.to_pylist()], np.int64)
        indices: np.ndarray = lookup[encoded.indices.to_numpy(zero_copy_only=False)]
        return indices

    def _function(self, name: str) -> int:
        found = self.functions.get(name)
        if found is None:
            found = self.functions[name] = len(self.functions)
        return found

    def _add_to(self, second: int, index: np.ndarray, bins: np.ndarray, durations: np.ndarray,
                failed: np.ndarray) -> None:  # fmt: skip
        n = len(self.functions)
        if self.first_second is None or second < self.first_second:
            self.first_second = second
        bucket = self._bucket(second)
        bucket.grow(n)
        bucket.hist += np.bincount(index * BINS + bins, minlength=n * BINS).reshape(n, BINS)
        bucket.errors += np.bincount(index, weights=failed, minlength=n).astype(np.int64)
        bucket.seconds += np.bincount(index, weights=durations, minlength=n)

    def _bucket(self, second: int) -> _Second:
        found = self._seconds.get(second)
        if found is not None:
            return found
        newest = max(self._seconds, default=second)
        if second < newest - KEEP_SECONDS:  # a late record (a spill file): only in the totals
            return self._older
        found = self._seconds[second] = _Second.empty(len(self.functions))
        for old in [s for s in self._seconds if s < max(newest, second) - KEEP_SECONDS]:
            self._older.add(self._seconds.pop(old))
        return found

    def _add_processes(self, parts: list[tuple[str, int, str, int]], top: np.ndarray,
                       calls: _Calls, second: int) -> None:  # fmt: skip
        ends = np.cumsum([n for *_, n in parts])
        busy = np.add.reduceat(top, np.concatenate([[0], ends[:-1]])) if len(top) else top
        last_rss = calls.values(("mem_final_mib",), ends - 1)["mem_final_mib"]
        bucket = self._seconds.get(second, self._older)
        now = time.time()
        for (host, pid, name, n), seconds, last in zip(parts, busy.tolist(), last_rss):
            process = self.processes.get((host, pid))
            if process is None:
                process = self.processes[(host, pid)] = Process(host, pid, name)
            process.calls += n
            process.busy_s += seconds
            process.last_seen = now
            if last is not None:
                process.rss_mib = last
            bucket.busy[(host, pid)] += seconds

    def _add_slowest(self, calls: _Calls) -> None:
        heap, duration = self._slowest, calls.duration
        if len(heap) >= SLOWEST and float(duration.max()) <= heap[0][0]:
            return
        k = min(SLOWEST, len(duration))
        chosen = np.argpartition(duration, len(duration) - k)[-k:]
        found = calls.values(_SLOW_COLUMNS, chosen)
        for j, i in enumerate(chosen.tolist()):
            value = float(duration[i])
            if len(heap) >= SLOWEST and value <= heap[0][0]:
                continue
            row = {name: found[name][j] for name in _SLOW_COLUMNS}
            row["end_time"] = int(calls.end_us[i]) / 1e6
            row["duration_s"] = value
            self._slowest_seq += 1
            item = (value, self._slowest_seq, row)
            if len(heap) < SLOWEST:
                heapq.heappush(heap, item)
            else:
                heapq.heapreplace(heap, item)

    def _add_failed_rows(self, calls: _Calls, rows: np.ndarray) -> None:
        """The failed calls of a round (`rows` their indices), by their call ids."""
        texts = calls.values((*_ERROR_COLUMNS, "pid"), rows)
        ends = (calls.end_us[rows] / 1e6).tolist()
        for i, call_id in enumerate(texts["call_id"]):
            error = {name: texts[name][i] for name in _ERROR_COLUMNS[1:]}
            self.add_error(str(call_id), {**error, "pid": texts["pid"][i], "time": ends[i]})

    def add_error(self, call_id: str, error: dict[str, Any]) -> bool:
        """A failed call, described by its results row or by its caught error (ErrorCatcher): counted once
        per call; a second description adds what the first lacked (the message). True if it is new."""
        error = {k: v[:TEXT] if isinstance(v, str) else v for k, v in error.items()}
        known = self._error_ids.get(call_id)
        if known is not None:
            known.update({k: v for k, v in error.items() if v and not known.get(k)})
            return False
        self._error_ids[call_id] = error
        if len(self._error_ids) > _SEEN_ERRORS:
            self._error_ids.popitem(last=False)
        self.errors += 1
        self.latest_errors.append(error)
        return True

    def add_logs(self, levels: list[str]) -> None:
        self.log_levels.update(levels)

    def add_progress(self, records: list[tuple[Any, ...]]) -> None:
        """PROGRESS records (wire.PROGRESS_FIELDS): a total declared, items done since the last record."""
        for _, time_ns, label, total, done in records:
            if not (type(label) is str and type(total) is int and type(done) is int):
                continue
            entry = self.progress.setdefault(label[:TEXT], {"total": None, "done": 0, "since": time_ns / 1e9})
            if total >= 0:
                entry["total"] = total
            entry["done"] += max(done, 0)
            entry["last"] = time_ns / 1e9

    # -- reading ----------------------------------------------------------------------------------------

    def window(self, now: float | None = None) -> tuple[int, int]:
        """The recent complete seconds [first, last], at most RECENT_SECONDS of them."""
        last = int((now if now is not None else time.time()) - SETTLE_SECONDS) - 1
        began = self.first_second if self.first_second is not None else last
        if last > began:
            began += 1  # the run's first second is only partly covered
        first = max(last - RECENT_SECONDS + 1, began)
        return first, max(first, last)

    def figures(self, first: int | None = None, last: int | None = None) -> list[FunctionFigures]:
        """Per function over the seconds [first, last], or since the start (no bounds)."""
        merged = _Second.empty(len(self.functions))
        if first is None or last is None:
            merged.add(self._older)
        for second, bucket in self._seconds.items():
            if first is None or last is None or first <= second <= last:
                merged.add(bucket)
        names = list(self.functions)
        return [
            FunctionFigures(
                names[i],
                int(merged.hist[i].sum()),
                int(merged.errors[i]),
                percentile(merged.hist[i], 0.5),
                percentile(merged.hist[i], 0.95),
                float(merged.seconds[i]),
            )
            for i in range(len(names))
        ]

    def busy(self, first: int, last: int) -> defaultdict[tuple[str, int], float]:
        """Busy seconds per process over the seconds [first, last]."""
        total: defaultdict[tuple[str, int], float] = defaultdict(float)
        for second, bucket in self._seconds.items():
            if first <= second <= last:
                for process, seconds in bucket.busy.items():
                    total[process] += seconds
        return total

    def slowest(self) -> list[dict[str, Any]]:
        return [row for _, _, row in sorted(self._slowest, reverse=True)]

    @property
    def calls(self) -> int:
        return sum(p.calls for p in self.processes.values())
