"""Aggregates of a run's call rows, computed once and shared by the tables, the figures and the report.

Per function: calls, duration total / mean / quantiles / max, CPU time and CPU utilisation (cpu / wall),
memory delta mean and max, final memory max, errors and error rate, processes that ran it. Per process:
busy time (the union of its calls' intervals, so nested calls are not counted twice), idle gaps, calls.
For the run: wall span and parallel efficiency (sum of busy time / (processes x span)). Everything is
vectorised: a million rows take well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from mpmon.analysis.load import to_micros

__all__ = [
    "FUNCTION_COLUMNS",
    "IDLE_GAP_S",
    "PROCESS_COLUMNS",
    "Summary",
    "busy_intervals",
    "function_labels",
    "function_table",
    "process_labels",
    "process_table",
    "summarize",
]

IDLE_GAP_S = 0.001
"""A pause between a process's calls counts as an idle gap when it is at least this long (seconds)."""

_QUANTILES = {"p25_s": 0.25, "p50_s": 0.5, "p75_s": 0.75, "p95_s": 0.95, "p99_s": 0.99}
FUNCTION_COLUMNS = (
    "module",
    "calls",
    "total_s",
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
)


@dataclass(frozen=True)
class Summary:
    """The aggregates of one run: a table per function, a table per process, and run totals."""

    functions: pd.DataFrame  # index: function label; FUNCTION_COLUMNS; most total time first
    processes: pd.DataFrame  # index: process label; PROCESS_COLUMNS; in order of first call
    run: dict[str, Any]  # JSON-ready totals: span, calls, processes, errors, efficiency, ...


def summarize(df: pd.DataFrame) -> Summary:
    """Compute every aggregate of a run's call rows once."""
    processes = process_table(df)
    return Summary(function_table(df), processes, _run_totals(df, processes))


def function_labels(df: pd.DataFrame) -> pd.Series:
    """Each row's function name; ``module.function`` where one name lives in several modules."""
    names = df["function"]
    modules_per_name = df.groupby("function", observed=True, sort=False)["module"].nunique()
    shared = modules_per_name.index[modules_per_name > 1]
    if len(shared) == 0:
        return names
    clash = names.isin(shared)
    return names.where(~clash, df["module"] + "." + names)


def process_labels(df: pd.DataFrame) -> pd.Series:
    """Each row's process as ``name (pid)``, with ``@host`` when the run spans hosts."""
    label = (
        df["process_name"].where(df["process_name"] != "", "process")
        + " ("
        + df["pid"].astype("string")
        + ")"
    )
    return label + "@" + df["host"] if df["host"].nunique() > 1 else label


def function_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per function (FUNCTION_COLUMNS), the one with the most total time first."""
    labels = function_labels(df).to_numpy()
    dur = df["duration_s"].groupby(labels, sort=False)
    table = pd.DataFrame({"module": df["module"].groupby(labels, sort=False).first(), "calls": dur.size()})
    table["total_s"], table["mean_s"], table["min_s"] = dur.sum(), dur.mean(), dur.min()
    quantiles = dur.quantile(list(_QUANTILES.values())).unstack()
    for name, q in _QUANTILES.items():
        table[name] = quantiles[q]
    table["max_s"] = dur.max()
    table = table.join(_cpu_columns(df, labels)).join(_memory_columns(df, labels))
    errors = (df["status"] == "error").groupby(labels, sort=False).sum()
    table["errors"] = errors.astype("int64")
    table["error_rate"] = table["errors"] / table["calls"]
    table["processes"] = (
        df.groupby([labels, df["host"], df["pid"]], sort=False).size().groupby(level=0).size()
    )
    table = table.rename_axis("function").sort_values(["total_s", "calls"], ascending=False, kind="stable")
    return table[list(FUNCTION_COLUMNS)]


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


def busy_intervals(df: pd.DataFrame) -> pd.DataFrame:
    """Per process, the union of its calls' [start, end] intervals: columns process, start_us, end_us."""
    lanes = process_labels(df).to_numpy()
    codes, names = pd.factorize(lanes, sort=False)
    begin, finish = to_micros(df["start_time"]), to_micros(df["end_time"])
    order = np.lexsort((begin, codes))
    lane, begin, finish = codes[order], begin[order], finish[order]
    reach = pd.Series(finish).groupby(lane).cummax().to_numpy()
    first = np.ones(len(order), dtype=bool)
    first[1:] = (lane[1:] != lane[:-1]) | (begin[1:] > reach[:-1])
    starts = np.flatnonzero(first)
    ends = np.maximum.reduceat(finish, starts) if len(starts) else finish[:0]
    return pd.DataFrame(
        {"process": np.asarray(names)[lane[starts]], "start_us": begin[starts], "end_us": ends}
    )


def process_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per process (PROCESS_COLUMNS), in order of its first call."""
    labels = process_labels(df).to_numpy()
    groups = df.groupby(labels, sort=False)
    table = groups[["host", "pid", "process_name"]].first()
    table["calls"] = groups.size()
    table["first_start"], table["last_end"] = groups["start_time"].min(), groups["end_time"].max()
    table = table.join(_busy_columns(busy_intervals(df)))
    span = _span_s(df)
    table["utilisation"] = table["busy_s"] / span if span > 0 else np.nan
    return table.rename_axis("process").sort_values("first_start", kind="stable")[list(PROCESS_COLUMNS)]


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


def _run_totals(df: pd.DataFrame, processes: pd.DataFrame) -> dict[str, Any]:
    """Run-level totals, as plain JSON-ready values."""
    span = _span_s(df)
    busy = float(processes["busy_s"].sum())
    errors = int((df["status"] == "error").sum())
    top_level = df["parent_id"] == ""
    return {
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
        "parallel_efficiency": busy / (len(processes) * span) if span > 0 and len(processes) else None,
        "cpu_time_s": float(df.loc[top_level.to_numpy(), "cpu_time_s"].sum()),
    }
