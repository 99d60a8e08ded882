"""Aggregates of a run's call rows, computed once and shared by the tables, the figures and the report.

Per function: calls, duration total / self (less monitored children) / mean / quantiles / max, CPU time
and CPU utilisation (cpu / wall), memory delta mean and max, final memory max, errors and error rate,
processes that ran it. Per process: busy time (the union of its calls' intervals, so nested calls are
not counted twice), idle gaps, calls.
For the run: wall span and parallel efficiency over the processes that ran the run's workload (see
:func:`workload_functions`): their busy time / (their number x span), the mean of their utilisation.
Everything is vectorised: a million rows take well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from mpmon.analysis.load import to_micros

__all__ = [
    "FUNCTION_COLUMNS",
    "IDLE_GAP_S",
    "PROCESS_COLUMNS",
    "SLOWEST_COLUMNS",
    "WORKLOAD_SHARE",
    "Groups",
    "Summary",
    "busy_intervals",
    "function_groups",
    "function_labels",
    "function_table",
    "process_groups",
    "process_labels",
    "process_table",
    "slowest_calls",
    "summarize",
    "workload_functions",
]

IDLE_GAP_S = 0.001
"""A pause between a process's calls counts as an idle gap when it is at least this long (seconds)."""

WORKLOAD_SHARE = 0.95
"""The run's workload: the top-level functions that, largest first, make up this share of top-level time."""

_QUANTILES = {"p25_s": 0.25, "p50_s": 0.5, "p75_s": 0.75, "p95_s": 0.95, "p99_s": 0.99}
FUNCTION_COLUMNS = (
    "module",
    "calls",
    "total_s",
    "self_s",
    "mean_s",
    "min_s",
    *_QUANTILES,
    "max_s",
    "cpu_s",
    "cpu_util",
    "mem_delta_mean_mib",
    "mem_delta_max_mib",
    "mem_final_max_mib",
    "errors",
    "error_rate",
    "processes",
)
PROCESS_COLUMNS = (
    "host",
    "pid",
    "process_name",
    "calls",
    "first_start",
    "last_end",
    "busy_s",
    "idle_s",
    "idle_gaps",
    "longest_gap_s",
    "utilisation",
    "workload",
)
SLOWEST_COLUMNS = (
    "function",
    "duration_s",
    "start_time",
    "offset_s",
    "process",
    "thread_name",
    "status",
    "args",
)


@dataclass(frozen=True)
class Groups:
    """Rows grouped by an integer code per row (fast to group by), with each code's name."""

    codes: np.ndarray[Any, np.dtype[np.int64]]
    names: list[str]

    def labels(self) -> np.ndarray[Any, np.dtype[Any]]:
        """Each row's name (an object array: slower to group by than the codes)."""
        labels: np.ndarray[Any, np.dtype[Any]] = np.asarray(self.names, dtype=object)[self.codes]
        return labels


@dataclass(frozen=True)
class Summary:
    """The aggregates of one run: a table per function, a table per process, and run totals."""

    functions: pd.DataFrame  # index: function label; FUNCTION_COLUMNS; most total time first
    processes: pd.DataFrame  # index: process label; PROCESS_COLUMNS; in order of first call
    run: dict[str, Any]  # JSON-ready totals: span, calls, processes, errors, efficiency, ...
    by_function: Groups | None = None  # the summarised rows' function codes, reused by the figures
    by_process: Groups | None = None  # the summarised rows' process codes
    extra: dict[str, Any] = field(default_factory=dict)  # figure aggregates of a scanned run (.figdata)

    def function_groups(self, df: pd.DataFrame) -> Groups:
        """The rows of ``df`` by function, reusing the codes computed for the summary when they fit."""
        fits = self.by_function is not None and len(self.by_function.codes) == len(df)
        return self.by_function if fits and self.by_function is not None else function_groups(df)

    def process_groups(self, df: pd.DataFrame) -> Groups:
        """The rows of ``df`` by process, reusing the codes computed for the summary when they fit."""
        fits = self.by_process is not None and len(self.by_process.codes) == len(df)
        return self.by_process if fits and self.by_process is not None else process_groups(df)


def summarize(df: pd.DataFrame) -> Summary:
    """Compute every aggregate of a run's call rows once."""
    functions, processes = function_groups(df), process_groups(df)
    workload = workload_functions(df, functions)
    process_rows = process_table(df, processes, _workload_processes(df, functions, processes, workload))
    table = function_table(df, functions, processes)
    return Summary(table, process_rows, _run_totals(df, process_rows, workload), functions, processes)


def workload_functions(df: pd.DataFrame, functions: Groups | None = None) -> list[str]:
    """The run's workload: the top-level functions (no monitored caller in their thread) that, taken
    largest first, make up WORKLOAD_SHARE of the time spent in top-level calls.

    A process counts towards parallel efficiency when it ran at least one of them, so a main process
    that only gathered results in a 24 µs call is not a lane that "did not work", while a run whose only
    caller is the main process is measured on that process.
    """
    functions = functions if functions is not None else function_groups(df)
    top = (df["parent_id"] == "").to_numpy()
    if not top.any():
        return []
    totals = pd.Series(df["duration_s"].to_numpy()[top]).groupby(functions.codes[top]).sum()
    totals = totals.sort_values(ascending=False, kind="stable")
    share = totals.cumsum() / totals.sum() if totals.sum() > 0 else pd.Series(1.0, index=totals.index)
    keep = int(np.searchsorted(share.to_numpy(), WORKLOAD_SHARE - 1e-12)) + 1
    return [functions.names[int(code)] for code in totals.index[:keep]]


def _workload_processes(
    df: pd.DataFrame, functions: Groups, processes: Groups, workload: list[str]
) -> set[str]:
    """The processes that ran at least one top-level call of a workload function."""
    wanted = np.isin(np.asarray(functions.names, dtype=object), np.asarray(workload, dtype=object))
    ran = wanted[functions.codes] & (df["parent_id"] == "").to_numpy() if len(wanted) else wanted
    return {processes.names[int(code)] for code in np.unique(processes.codes[ran])}


def function_groups(df: pd.DataFrame) -> Groups:
    """Rows by function; a name found in several modules is split and named ``module.function``."""
    fcodes, fnames = pd.factorize(df["function"], sort=False)
    mcodes, mnames = pd.factorize(df["module"], sort=False)
    pairs, codes = np.unique(fcodes.astype(np.int64) * max(len(mnames), 1) + mcodes, return_inverse=True)
    pair_f, pair_m = np.divmod(pairs, max(len(mnames), 1))
    clash = np.bincount(pair_f, minlength=len(fnames)) > 1
    names = [
        f"{mnames[m]}.{fnames[f]}" if clash[f] else str(fnames[f])
        for f, m in zip(pair_f, pair_m, strict=True)
    ]
    return Groups(codes.astype(np.int64), names)


def process_groups(df: pd.DataFrame) -> Groups:
    """Rows by process (host and pid), named ``process_name (pid)``, with ``@host`` across hosts."""
    hcodes, hosts = pd.factorize(df["host"], sort=False)
    pid = df["pid"].to_numpy(dtype=np.int64)
    _keys, first, codes = np.unique(
        hcodes.astype(np.int64) * (int(pid.max(initial=0)) + 2) + pid + 1,
        return_index=True,
        return_inverse=True,
    )
    pnames = df["process_name"].iloc[first].to_numpy()  # not the whole column as Python strings
    suffix = [f"@{hosts[h]}" if len(hosts) > 1 else "" for h in hcodes[first]]
    names = [f"{n or 'process'} ({p}){s}" for n, p, s in zip(pnames, pid[first], suffix, strict=True)]
    return Groups(codes.astype(np.int64), names)


def function_labels(df: pd.DataFrame) -> pd.Series:
    """Each row's function label (see :func:`function_groups`)."""
    return pd.Series(function_groups(df).labels(), index=df.index, dtype="string")


def process_labels(df: pd.DataFrame) -> pd.Series:
    """Each row's process label (see :func:`process_groups`)."""
    return pd.Series(process_groups(df).labels(), index=df.index, dtype="string")


def function_table(
    df: pd.DataFrame, functions: Groups | None = None, processes: Groups | None = None
) -> pd.DataFrame:
    """One row per function (FUNCTION_COLUMNS), the one with the most total time first."""
    functions = functions if functions is not None else function_groups(df)
    processes = processes if processes is not None else process_groups(df)
    codes = functions.codes
    dur = df["duration_s"].groupby(codes)
    table = pd.DataFrame({"module": df["module"].groupby(codes).first(), "calls": dur.size()})
    table["total_s"], table["mean_s"], table["min_s"] = dur.sum(), dur.mean(), dur.min()
    quantiles = dur.quantile(list(_QUANTILES.values())).unstack()
    for name, q in _QUANTILES.items():
        table[name] = quantiles[q]
    table["max_s"] = dur.max()
    table["self_s"] = table["total_s"] - _children_time(df, codes, len(functions.names))[table.index]
    table = table.join(_cpu_columns(df, codes)).join(_memory_columns(df, codes))
    table["errors"] = np.bincount(codes[(df["status"] == "error").to_numpy()], minlength=len(functions.names))
    table["error_rate"] = table["errors"] / table["calls"]
    width = len(processes.names) + 1
    pairs = np.unique(codes * width + processes.codes)
    table["processes"] = np.bincount(pairs // width, minlength=len(functions.names))
    table.index = pd.Index([functions.names[i] for i in table.index], name="function")
    return table.sort_values(["total_s", "calls"], ascending=False, kind="stable")[list(FUNCTION_COLUMNS)]


def _children_time(df: pd.DataFrame, codes: Any, count: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Per function code, the seconds its calls spent in monitored children (total less this: self time)."""
    ids = pd.Index(df["call_id"].to_numpy(dtype=object))
    parents = pd.Index(ids[~ids.duplicated()]).get_indexer(df["parent_id"].to_numpy(dtype=object))
    rows = np.flatnonzero(~ids.duplicated())
    nested = parents >= 0
    duration = np.nan_to_num(df["duration_s"].to_numpy(dtype=float, na_value=np.nan))
    seconds: np.ndarray[Any, np.dtype[np.float64]] = np.bincount(
        codes[rows[parents[nested]]], weights=duration[nested], minlength=count
    ).astype(np.float64)
    return seconds


def _cpu_columns(df: pd.DataFrame, labels: Any) -> pd.DataFrame:
    """CPU seconds and CPU utilisation (cpu / wall over the calls whose CPU time was tracked)."""
    cpu = df["cpu_time_s"]
    tracked_wall = df["duration_s"].where(cpu.notna())
    frame = pd.DataFrame({"cpu": cpu, "wall": tracked_wall}).groupby(labels, sort=False).sum(min_count=1)
    return pd.DataFrame(
        {"cpu_s": frame["cpu"], "cpu_util": frame["cpu"] / frame["wall"].where(frame["wall"] > 0)}
    )


def _memory_columns(df: pd.DataFrame, labels: Any) -> pd.DataFrame:
    """Memory delta mean and max and final memory max, MiB (missing where memory was not tracked)."""
    groups = df[["mem_delta_mib", "mem_final_mib"]].groupby(labels, sort=False)
    return pd.DataFrame(
        {
            "mem_delta_mean_mib": groups["mem_delta_mib"].mean(),
            "mem_delta_max_mib": groups["mem_delta_mib"].max(),
            "mem_final_max_mib": groups["mem_final_mib"].max(),
        }
    )


def busy_intervals(df: pd.DataFrame, processes: Groups | None = None) -> pd.DataFrame:
    """Per process, the union of its calls' [start, end] intervals: columns process, start_us, end_us."""
    processes = processes if processes is not None else process_groups(df)
    begin, finish = to_micros(df["start_time"]), to_micros(df["end_time"])
    order = np.lexsort((begin, processes.codes))
    lane, begin, finish = processes.codes[order], begin[order], finish[order]
    reach = pd.Series(finish).groupby(lane).cummax().to_numpy()
    first = np.ones(len(order), dtype=bool)
    first[1:] = (lane[1:] != lane[:-1]) | (begin[1:] > reach[:-1])
    starts = np.flatnonzero(first)
    ends = np.maximum.reduceat(finish, starts) if len(starts) else finish[:0]
    process = pd.Categorical.from_codes(lane[starts], categories=pd.Index(processes.names, dtype=object))
    return pd.DataFrame({"process": process, "start_us": begin[starts], "end_us": ends})  # codes: cheap


def process_table(
    df: pd.DataFrame, processes: Groups | None = None, workload: set[str] | None = None
) -> pd.DataFrame:
    """One row per process (PROCESS_COLUMNS), in order of its first call; ``workload`` is whether the
    process ran the run's workload (counts towards parallel efficiency; all when not given)."""
    processes = processes if processes is not None else process_groups(df)
    groups = df.groupby(processes.codes)
    table = groups[["host", "pid", "process_name"]].first()
    table["calls"] = groups.size()
    table["first_start"], table["last_end"] = groups["start_time"].min(), groups["end_time"].max()
    table.index = pd.Index([processes.names[i] for i in table.index], name="process")
    table = table.join(_busy_columns(busy_intervals(df, processes)))
    span = _span_s(df)
    table["utilisation"] = table["busy_s"] / span if span > 0 else np.nan
    table["workload"] = [workload is None or name in workload for name in table.index]
    return table.sort_values("first_start", kind="stable")[list(PROCESS_COLUMNS)]


def _busy_columns(intervals: pd.DataFrame) -> pd.DataFrame:
    """Busy seconds, idle seconds between calls, idle gaps (>= IDLE_GAP_S) and the longest gap."""
    busy = (intervals["end_us"] - intervals["start_us"]) / 1e6
    gap = (intervals["start_us"] - intervals.groupby("process")["end_us"].shift()) / 1e6
    frame = pd.DataFrame({"process": intervals["process"], "busy": busy, "gap": gap})
    groups = frame.groupby("process", sort=False)
    return pd.DataFrame(
        {
            "busy_s": groups["busy"].sum(),
            "idle_s": groups["gap"].sum(),
            "idle_gaps": (frame["gap"] >= IDLE_GAP_S)
            .groupby(frame["process"], sort=False)
            .sum()
            .astype("int64"),
            "longest_gap_s": groups["gap"].max().fillna(0.0),
        }
    )


def _span_s(df: pd.DataFrame) -> float:
    """Seconds from the first call's start to the last call's end (0 for no rows)."""
    if df.empty:
        return 0.0
    return float((df["end_time"].max() - df["start_time"].min()).total_seconds())


def _run_totals(df: pd.DataFrame, processes: pd.DataFrame, workload: list[str]) -> dict[str, Any]:
    """Run-level totals, as plain JSON-ready values."""
    span = _span_s(df)
    busy = float(processes["busy_s"].sum())
    working = processes[processes["workload"].to_numpy(dtype=bool)]
    working_busy = float(working["busy_s"].sum())
    errors = int((df["status"] == "error").sum())
    top_level = df["parent_id"] == ""
    return {
        "run_ids": [str(r) for r in pd.unique(df["run_id"]) if r],
        "start": df["start_time"].min().isoformat() if len(df) else None,
        "end": df["end_time"].max().isoformat() if len(df) else None,
        "wall_span_s": span,
        "calls": len(df),
        "top_level_calls": int(top_level.sum()),
        "functions": int(df["function"].nunique()),
        "processes": len(processes),
        "hosts": int(df["host"].nunique()),
        "errors": errors,
        "error_rate": errors / len(df) if len(df) else 0.0,
        "busy_s": busy,
        "parallel_efficiency": working_busy / (len(working) * span) if span > 0 and len(working) else None,
        "workload_functions": workload,
        "workload_processes": len(working),
        "other_processes": [str(p) for p in processes.index[~processes["workload"].to_numpy(dtype=bool)]],
        "cpu_time_s": float(df.loc[top_level.to_numpy(), "cpu_time_s"].sum()),
    }


def slowest_calls(
    df: pd.DataFrame, top: int = 20, processes: Groups | None = None, functions: Groups | None = None
) -> pd.DataFrame:
    """The ``top`` longest calls, longest first: SLOWEST_COLUMNS, indexed by call_id.

    ``offset_s`` is the call's start in seconds from the run's first start (where it sits on the
    timeline); ``process`` and ``function`` are the labels of the timeline and the tables. A partial
    sort: ten million rows cost a fraction of a second. Columns the loader did not read (``args`` when
    only the analysis columns were loaded) are left empty.
    """
    if df.empty:
        return pd.DataFrame(columns=list(SLOWEST_COLUMNS), index=pd.Index([], name="call_id"))
    processes = processes if processes is not None else process_groups(df)
    functions = functions if functions is not None else function_groups(df)
    durations = np.nan_to_num(df["duration_s"].to_numpy(dtype=float, na_value=np.nan), nan=-np.inf)
    take = np.argpartition(-durations, min(top, len(df)) - 1)[:top] if len(df) > top else np.arange(len(df))
    take = take[np.lexsort((take, -durations[take]))]
    rows = df.iloc[take]
    first = df["start_time"].min()
    return pd.DataFrame(
        {
            "function": np.asarray(functions.names, dtype=object)[functions.codes[take]],
            "duration_s": durations[take],
            "start_time": rows["start_time"].to_numpy(),
            "offset_s": (rows["start_time"] - first).dt.total_seconds().to_numpy(),
            "process": np.asarray(processes.names, dtype=object)[processes.codes[take]],
            **{name: _column(rows, name) for name in ("thread_name", "status", "args")},
        },
        index=pd.Index(rows["call_id"].to_numpy(), name="call_id"),
    )


def _column(rows: pd.DataFrame, name: str) -> Any:
    """A column's values as an array of text, empty strings when the column was not loaded."""
    return rows[name].astype(str).to_numpy() if name in rows.columns else np.full(len(rows), "", dtype=object)
