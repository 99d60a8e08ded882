"""A run's :class:`~mpmon.analysis.stats.Summary` computed by DuckDB where the rows lie (out of core).

The same figures as :func:`mpmon.analysis.stats.summarize` gives for a DataFrame, from a view of call rows
(``calls`` of :mod:`.scan`, or a DataFrame registered in DuckDB): one grouping by (function, module,
process, top-level) gives every count and sum; exact quantiles (``quantile_cont``, pandas' linear rule)
per function; one window over each process's calls sorted by start gives busy time and idle gaps (the
union of intervals); one join of children sums to their parents gives self time. Memory grows with
functions x processes, not with calls; DuckDB spills the sort, the join and the quantiles past its limit.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from mpmon.analysis import quantiles, stats

__all__ = ["QUANTILES", "function_durations", "function_map", "process_map", "summarize_view"]

QUANTILES = (0.25, 0.5, 0.75, 0.95, 0.99)
_MEMORY_LEVELS = (0.0, 0.25, 0.5, 0.75, 0.99)


def _df(con: duckdb.DuckDBPyConnection, query: str) -> pd.DataFrame:
    return con.sql(query).df()


def maps(con: duckdb.DuckDBPyConnection, view: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The fine sums (:func:`_fine`), the function labels and the process labels, from one scan."""
    fine = _fine(con, view)
    return fine, function_map(fine), process_map(fine)


def function_map(fine: pd.DataFrame) -> pd.DataFrame:
    """(function, module) -> label: the function's name, ``module.function`` where a name has several
    modules (the rule of :func:`stats.function_groups`)."""
    pairs = fine[["function", "module"]].drop_duplicates().reset_index(drop=True)
    clash = pairs.groupby("function")["module"].transform("size") > 1
    pairs["label"] = np.where(clash, pairs["module"] + "." + pairs["function"], pairs["function"])
    return pairs


def process_map(fine: pd.DataFrame) -> pd.DataFrame:
    """(host, pid) -> label ``process_name (pid)``, with ``@host`` when the run spans hosts; calls, first
    start and last end of each process."""
    first = fine.sort_values("first_us", kind="stable").drop_duplicates(["host", "pid"])
    g = fine.groupby(["host", "pid"], sort=False)
    procs = pd.DataFrame(
        {"calls": g["calls"].sum(), "first_us": g["first_us"].min(), "last_us": g["last_us"].max()}
    )
    procs = procs.join(first.set_index(["host", "pid"])["pname"].rename("process_name")).reset_index()
    procs["first_start"] = pd.to_datetime(procs["first_us"], unit="us", utc=True)
    procs["last_end"] = pd.to_datetime(procs["last_us"], unit="us", utc=True)
    many = procs["host"].nunique() > 1
    procs["label"] = [
        f"{n or 'process'} ({p}){'@' + h if many else ''}"
        for n, p, h in zip(procs["process_name"], procs["pid"], procs["host"], strict=True)
    ]
    return procs


def function_durations(con: duckdb.DuckDBPyConnection, view: str) -> pd.DataFrame:
    """Per function label: calls, total_s and the duration quantiles (what ``compare`` needs), exact."""
    fine = _fine(con, view)
    quantiles = _quantiles(con, view)
    table = _function_rows(fine, quantiles, function_map(fine))
    return table[["calls", "total_s", "mean_s", "p50_s", "p95_s", "p99_s", "max_s"]]


def summarize_view(
    con: duckdb.DuckDBPyConnection, view: str, run_ids: list[str] | None = None
) -> stats.Summary:
    """Every aggregate of the run whose call rows are ``view``, as :func:`stats.summarize` computes them
    (``run_ids``: the view's run ids, if the caller knows them, oldest first)."""
    raw, fmap, procs = maps(con, view)
    fine = raw.merge(fmap, on=["function", "module"])
    fine = fine.merge(
        procs[["host", "pid", "label"]].rename(columns={"label": "process"}), on=["host", "pid"]
    )
    quantiles = _quantiles(con, view)
    functions = _function_rows(fine, quantiles, fmap)
    functions["self_s"] = functions["total_s"] - _children_time(con, view, fmap).reindex(functions.index)
    functions["self_s"] = functions["self_s"].fillna(functions["total_s"])
    workload = _workload(fine)
    working = set(fine.loc[fine["top"] & fine["label"].isin(workload), "process"])
    processes = _process_rows(_gaps(con, view, procs), procs, working)
    functions = functions.sort_values(["total_s", "calls"], ascending=False, kind="stable")
    totals = _run_totals(con, view, fine, processes, workload, run_ids)
    levels = quantiles.merge(fmap, on=["function", "module"]).set_index("label")["mq"]
    memory = {str(k): v for k, v in ((k, _floats(v)) for k, v in levels.items()) if not np.isnan(v).all()}
    summary = stats.Summary(functions[list(stats.FUNCTION_COLUMNS)], processes, totals)
    summary.extra["memory_levels"] = memory
    summary.extra["maps"] = (raw, fmap, procs)
    return summary


def _fine(con: duckdb.DuckDBPyConnection, view: str) -> pd.DataFrame:
    """Counts and sums per (function, module, host, pid, top-level): every additive aggregate."""
    return _df(
        con,
        f"""SELECT function, module, host, pid, parent_id = '' AS top, count(*) AS calls,
            count(duration_s) AS timed, sum(duration_s) AS total, min(duration_s) AS dmin,
            max(duration_s) AS dmax, sum(cpu_time_s) AS cpu,
            sum(duration_s) FILTER (cpu_time_s IS NOT NULL) AS tracked_wall,
            sum(mem_delta_mib) AS md_sum, count(mem_delta_mib) AS md_n, max(mem_delta_mib) AS md_max,
            max(mem_final_mib) AS mf_max, count(*) FILTER (status = 'error') AS errors,
            min(start_us) AS first_us, max(end_us) AS last_us, arg_min(process_name, start_us) AS pname,
            min(duration_s) FILTER (duration_s > 0) AS pos_min, max(duration_s) FILTER (duration_s > 0)
            AS pos_max, count(*) FILTER (duration_s > 0) AS positive
        FROM {view} GROUP BY ALL""",
    )


def _quantiles(con: duckdb.DuckDBPyConnection, view: str) -> pd.DataFrame:
    """Exact duration quantiles per (function, module) in bounded memory (:mod:`.quantiles`), and the
    memory-delta levels the figure draws (DuckDB's ``approx_quantile``, a t-digest: a figure only)."""
    exact = quantiles.exact_quantiles(con, view, "duration_s", QUANTILES)
    memory = ", ".join(str(q) for q in _MEMORY_LEVELS)
    frame = _df(
        con,
        f"SELECT function, module, approx_quantile(mem_delta_mib, [{memory}]) AS mq FROM {view} GROUP BY ALL",
    )
    frame["q"] = [
        exact.get((str(f), str(m))) for f, m in zip(frame["function"], frame["module"], strict=True)
    ]
    return frame


def _function_rows(fine: pd.DataFrame, quantiles: pd.DataFrame, fmap: pd.DataFrame) -> pd.DataFrame:
    """One row per function label (FUNCTION_COLUMNS but self_s), unsorted."""
    if "label" not in fine.columns:
        fine = fine.merge(fmap, on=["function", "module"])
    g = fine.groupby("label", sort=False)
    table = pd.DataFrame({"module": g["module"].first(), "calls": g["calls"].sum()})
    table["total_s"] = g["total"].sum(min_count=1)
    table["mean_s"] = table["total_s"] / g["timed"].sum()
    table["min_s"], table["max_s"] = g["dmin"].min(), g["dmax"].max()
    q = quantiles.merge(fmap, on=["function", "module"]).set_index("label")
    for i, name in enumerate(("p25_s", "p50_s", "p75_s", "p95_s", "p99_s")):
        table[name] = [_floats(v)[i] for v in q["q"].reindex(table.index)]
    cpu, wall = g["cpu"].sum(min_count=1), g["tracked_wall"].sum(min_count=1)
    table["cpu_s"], table["cpu_util"] = cpu, cpu / wall.where(wall > 0)
    table["mem_delta_mean_mib"] = g["md_sum"].sum(min_count=1) / g["md_n"].sum().replace(0, np.nan)
    table["mem_delta_max_mib"], table["mem_final_max_mib"] = g["md_max"].max(), g["mf_max"].max()
    table["errors"] = g["errors"].sum().astype("int64")
    table["error_rate"] = table["errors"] / table["calls"]
    if "process" in fine.columns:
        table["processes"] = g["process"].nunique()
    table.index.name = "function"
    return table.astype({c: "float64" for c in table.columns if c.endswith(("_s", "_mib", "util"))})


def _floats(values: Any) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A list of quantiles (None or with nulls where a function had no values) as floats, NaN for null."""
    if values is None or values is pd.NA or (isinstance(values, float) and np.isnan(values)):
        return np.full(5, np.nan)
    floats: np.ndarray[Any, np.dtype[np.float64]] = pd.array(list(values), dtype="Float64").to_numpy(
        dtype=float, na_value=np.nan
    )
    return floats


def _children_time(con: duckdb.DuckDBPyConnection, view: str, fmap: pd.DataFrame) -> pd.Series:
    """Per function label, the time its calls spent in monitored children (for self time)."""
    rows = _df(
        con,
        f"""SELECT p.function, p.module, sum(c.d) AS children FROM
              (SELECT parent_id, sum(duration_s) AS d FROM {view} WHERE parent_id <> '' GROUP BY parent_id) c
            JOIN (SELECT call_id, function, module FROM {view}) p ON p.call_id = c.parent_id
            GROUP BY ALL""",
    )
    rows = rows.merge(fmap, on=["function", "module"])
    return rows.groupby("label")["children"].sum()


def _workload(fine: pd.DataFrame) -> list[str]:
    """The workload functions (:func:`stats.workload_functions`) from the top-level sums."""
    top = fine[fine["top"]]
    if top.empty:
        return []
    totals = top.groupby("label", sort=False)["total"].sum().sort_values(ascending=False, kind="stable")
    whole = totals.sum()
    share = totals.cumsum() / whole if whole > 0 else pd.Series(1.0, index=totals.index)
    keep = int(np.searchsorted(share.to_numpy(), stats.WORKLOAD_SHARE - 1e-12)) + 1
    return [str(f) for f in totals.index[:keep]]


def _gaps(con: duckdb.DuckDBPyConnection, view: str, procs: pd.DataFrame) -> pd.DataFrame:
    """Per process, the idle time between its calls: the gaps between each call's start and the latest
    end before it (one sorted window per process), their count and the longest; first start, last end."""
    hosts = procs["host"].unique()
    # one host: the window sorts (pid, start, end) alone; hashing and carrying the host text through the
    # sort would cost it a third more
    keys, host = ("pid", _literal(str(hosts[0]))) if len(hosts) == 1 else ("host, pid", "host")
    return _df(
        con,
        f"""SELECT {host} AS host, pid, coalesce(sum(gap) FILTER (gap > 0), 0) AS idle_us,
                count(*) FILTER (gap >= {round(stats.IDLE_GAP_S * 1e6)}) AS idle_gaps,
                coalesce(max(gap) FILTER (gap > 0), 0) AS longest_us, min(start_us) AS lo, max(end_us) AS hi
            FROM (SELECT {keys}, start_us, end_us, start_us - max(end_us) OVER (PARTITION BY {keys}
                  ORDER BY start_us ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS gap FROM {view})
            GROUP BY {keys}""",
    )


def _literal(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _process_rows(gaps: pd.DataFrame, procs: pd.DataFrame, working: set[str]) -> pd.DataFrame:
    """One row per process (PROCESS_COLUMNS): busy time is the union of its calls' intervals, the span
    from its first start to its last end less the gaps (:func:`_gaps`)."""
    table = procs.merge(gaps, on=["host", "pid"]).set_index("label")
    table.index.name = "process"
    table["idle_s"] = table["idle_us"] / 1e6
    table["busy_s"] = (table["hi"] - table["lo"]) / 1e6 - table["idle_s"]
    table["longest_gap_s"] = table["longest_us"] / 1e6
    table["idle_gaps"] = table["idle_gaps"].astype("int64")
    span = (table["last_end"].max() - table["first_start"].min()).total_seconds() if len(table) else 0.0
    table["utilisation"] = table["busy_s"] / span if span > 0 else np.nan
    table["workload"] = [name in working for name in table.index]
    for name in ("first_start", "last_end"):
        table[name] = table[name].astype("datetime64[us, UTC]")
    table = table.sort_values(["first_start", "host", "pid"], kind="stable")
    return table[list(stats.PROCESS_COLUMNS)]


def _run_totals(
    con: duckdb.DuckDBPyConnection,
    view: str,
    fine: pd.DataFrame,
    processes: pd.DataFrame,
    workload: list[str],
    run_ids: list[str] | None = None,
) -> dict[str, Any]:
    """Run-level totals, as :func:`stats.summarize` gives them."""
    if run_ids is None or len(run_ids) != 1 or not run_ids[0]:  # one known run needs no pass to list it
        query = f"SELECT run_id FROM {view} WHERE run_id <> '' GROUP BY run_id ORDER BY min(start_us)"
        run_ids = [str(r[0]) for r in con.sql(query).fetchall()]
    start, end = processes["first_start"].min(), processes["last_end"].max()
    span = float((end - start).total_seconds()) if len(processes) else 0.0
    working = processes[processes["workload"].to_numpy(dtype=bool)]
    calls, errors = int(fine["calls"].sum()), int(fine["errors"].sum())
    top = fine[fine["top"]]
    return {
        "run_ids": run_ids,
        "start": start.isoformat() if len(processes) else None,
        "end": end.isoformat() if len(processes) else None,
        "wall_span_s": span,
        "calls": calls,
        "top_level_calls": int(top["calls"].sum()),
        "functions": int(fine["function"].nunique()),
        "processes": len(processes),
        "hosts": int(fine["host"].nunique()),
        "errors": errors,
        "error_rate": errors / calls if calls else 0.0,
        "busy_s": float(processes["busy_s"].sum()),
        "parallel_efficiency": float(working["busy_s"].sum()) / (len(working) * span)
        if span > 0 and len(working)
        else None,
        "workload_functions": workload,
        "workload_processes": len(working),
        "other_processes": [str(p) for p in processes.index[~processes["workload"].to_numpy(dtype=bool)]],
        "cpu_time_s": float(top["cpu"].sum()),
    }
