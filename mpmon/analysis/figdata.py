"""What the figures draw, aggregated by DuckDB: binned occupancy per process, histograms per function,
memory over time; the rows drawn one by one are few (the slowest calls, the errors, every call of a run
of at most EXACT_TIMELINE_CALLS calls).

:func:`figure_data` reads a view of call rows (``calls`` of :mod:`.scan`); :func:`of_frame` registers a
DataFrame and does the same, so a notebook's ``plot_timeline(df)`` and ``mpmon-analyze`` draw one way.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from mpmon import schema
from mpmon.analysis import aggregate, stats
from mpmon.analysis._convert import to_micros

__all__ = [
    "COLOURED_FUNCTIONS",
    "EXACT_TIMELINE_CALLS",
    "HISTOGRAM_BINS",
    "MARKED_SLOWEST",
    "MAX_HISTOGRAMS",
    "SLOWEST_ROWS",
    "TIMELINE_BINS",
    "FigureData",
    "Histogram",
    "figure_data",
    "of_frame",
    "resolved",
    "slowest_rows",
]

TIMELINE_BINS = 1_000
EXACT_TIMELINE_CALLS = 20_000  # up to this many calls the timeline draws every call; beyond, it bins
MARKED_SLOWEST = 5
COLOURED_FUNCTIONS = 10
MAX_HISTOGRAMS = 60
HISTOGRAM_BINS = 30


@dataclass(frozen=True)
class Histogram:
    """A function's positive durations binned: counts per bin between edges, log-spaced or not."""

    counts: np.ndarray[Any, np.dtype[np.int64]]
    edges: np.ndarray[Any, np.dtype[np.float64]]
    log: bool
    calls: int  # the function's calls (all of them, the non-positive too)


@dataclass(frozen=True)
class FigureData:
    """Everything the figures draw of a run, sized by processes, functions and bins, not by calls."""

    t0_us: int
    span_us: int
    lanes: list[str]  # process labels, the process table's order
    coloured: list[str]  # the functions with their own colour, most total time first
    occupancy: np.ndarray[Any, np.dtype[np.float64]]  # lane x colour (coloured + other) x bin, top-level
    calls: pd.DataFrame | None  # every call when few: lane, colour, start, end (µs from t0), depth, error
    marks: pd.DataFrame  # the slowest calls: lane, start (µs from t0), nested
    errors: pd.DataFrame  # failed calls: lane, end (µs from t0)
    histograms: dict[str, Histogram]
    memory_levels: dict[str, np.ndarray[Any, np.dtype[np.float64]]]  # function -> min, p25, p50, p75, p99
    memory: pd.DataFrame  # lane, bin, mib: the largest end-of-call RSS per process and time bin
    calls_total: int


def figure_data(
    con: duckdb.DuckDBPyConnection, view: str, summary: stats.Summary, failed: pd.DataFrame | None = None
) -> FigureData:
    """The figures' aggregates of the calls in ``view``, labelled as ``summary`` labels them (``failed``:
    the view's failed calls with host, pid and end_us, if already read).

    Each query groups by the raw keys (host, pid, function, module) and the labels are put on the few
    grouped rows afterwards: no join over the calls."""
    lanes = [str(x) for x in summary.processes.index]
    order = [str(x) for x in summary.functions.index]
    coloured = order[:COLOURED_FUNCTIONS]
    fine, fmap, procs = summary.extra.get("maps") or aggregate.maps(con, view)
    pmap = procs[["host", "pid", "label"]].copy()
    pmap["lane"] = pmap["label"].map({n: i for i, n in enumerate(lanes)}).fillna(-1).astype("int64")
    fmap = fmap.copy()
    fmap["colour"] = fmap["label"].map({n: i for i, n in enumerate(coloured)}).fillna(len(coloured))
    fmap["colour"] = fmap["colour"].astype("int64")
    t0 = int(fine["first_us"].min()) if len(fine) else 0
    span = max(int(max(fine["last_us"].max(), fine["first_us"].max()) - t0), 1) if len(fine) else 1
    count = int(fine["calls"].sum()) if len(fine) else 0
    lane = _Lanes(pmap)
    return FigureData(
        t0_us=t0,
        span_us=span,
        lanes=lanes,
        coloured=coloured,
        occupancy=_occupancy(con, view, t0, span, lane, fmap, len(lanes), len(coloured) + 1),
        calls=_every_call(con, view, t0, lane, fmap) if count <= EXACT_TIMELINE_CALLS else None,
        marks=lane.of(_marks(slowest_rows(con, view, summary), t0)),
        errors=lane.of(
            con.sql(f"SELECT host, pid, end_us - {t0} AS end FROM {view} WHERE status = 'error'").df()
            if failed is None
            else pd.DataFrame(
                {"host": failed["host"], "pid": failed["pid"], "end": failed["end_us"].to_numpy() - t0}
            )
        ),
        histograms=_histograms(
            con, view, fine.merge(fmap, on=["function", "module"]), order[:MAX_HISTOGRAMS]
        ),
        memory_levels=dict(summary.extra.get("memory_levels") or _memory_levels(con, view, fmap)),
        memory=lane.of(
            con.sql(
                f"SELECT host, pid, least(CAST(floor((end_us - {t0}) * {TIMELINE_BINS} / {span}) AS BIGINT), "
                f"{TIMELINE_BINS - 1}) AS bin, max(mem_final_mib) AS mib FROM {view} "
                "WHERE mem_final_mib IS NOT NULL GROUP BY ALL"
            ).df()
        ).sort_values(["lane", "bin"], ignore_index=True),
        calls_total=count,
    )


def resolved(summary: stats.Summary) -> FigureData | None:
    """The summary's figure data, waited for if a thread is still aggregating it (then kept as such)."""
    found = summary.extra.get("figures")
    if isinstance(found, Future):
        found = summary.extra["figures"] = found.result()
    return found if isinstance(found, FigureData) else None


SLOWEST_ROWS = 20
"""How many of the slowest calls one Top-N pass reads: the timeline marks the first MARKED_SLOWEST, the
report lists them all (:func:`mpmon.analysis.scanned.slowest_calls`)."""


def slowest_rows(con: duckdb.DuckDBPyConnection, view: str, summary: stats.Summary) -> pd.DataFrame:
    """The SLOWEST_ROWS slowest calls of ``view`` (slowest first, ties by call id), read once and kept in
    ``summary.extra`` for the figure and the report's table."""
    rows = summary.extra.get("slowest_rows")
    if not isinstance(rows, pd.DataFrame):
        rows = summary.extra["slowest_rows"] = con.sql(
            "SELECT call_id, function, module, host, pid, duration_s, start_time, start_us, "
            f"parent_id <> '' AS nested, thread_name, status FROM {view} "
            f"ORDER BY duration_s DESC NULLS LAST, call_id LIMIT {SLOWEST_ROWS}"
        ).df()
    return rows


def _marks(rows: pd.DataFrame, t0: int) -> pd.DataFrame:
    """The MARKED_SLOWEST slowest calls: host, pid, start (µs from t0), nested."""
    top = rows.head(MARKED_SLOWEST)
    return pd.DataFrame(
        {"host": top["host"], "pid": top["pid"], "start": top["start_us"] - t0, "nested": top["nested"]}
    )


@dataclass(frozen=True)
class _Lanes:
    """(host, pid) -> lane: the position of the process in the process table."""

    pmap: pd.DataFrame

    def case(self) -> str:
        """A SQL expression of a row's lane (-1 for a process not in the table): integers to group by."""
        known = self.pmap[self.pmap["lane"] >= 0]
        if known.empty:
            return "-1"
        whens = " ".join(
            f"WHEN host = {_text(h)} AND pid = {int(p)} THEN {int(n)}"
            for h, p, n in zip(known["host"], known["pid"], known["lane"], strict=True)
        )
        return f"(CASE {whens} ELSE -1 END)"

    def of(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``rows`` with a ``lane`` column instead of host and pid (rows of unknown processes dropped)."""
        keyed = rows.merge(self.pmap[["host", "pid", "lane"]], on=["host", "pid"], how="inner")
        return keyed[keyed["lane"] >= 0].drop(columns=["host", "pid"]).reset_index(drop=True)


def _text(value: str) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def _colour_case(fmap: pd.DataFrame, other: int) -> str:
    """A SQL expression of a row's colour: its function's, or ``other`` for the uncoloured ones."""
    coloured = fmap[fmap["colour"] < other]
    if coloured.empty:
        return str(other)
    whens = " ".join(
        f"WHEN function = {_text(f)} AND module = {_text(m)} THEN {int(c)}"
        for f, m, c in zip(coloured["function"], coloured["module"], coloured["colour"], strict=True)
    )
    return f"(CASE {whens} ELSE {other} END)"


def _occupancy(
    con: duckdb.DuckDBPyConnection,
    view: str,
    t0: int,
    span: int,
    lane: _Lanes,
    fmap: pd.DataFrame,
    lanes: int,
    colours: int,
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Busy fraction of each (lane, colour, bin) from top-level calls: a call's first and last bins get
    their partial share, the bins between count as full (a difference array summed along time)."""
    bins = TIMELINE_BINS
    parts = con.sql(
        f"""WITH x AS (SELECT {lane.case()} AS lane, {_colour_case(fmap, colours - 1)} AS colour,
                least((greatest(end_us, start_us) - {t0}) * {bins} / {span}, {bins} - 1e-9) AS hi,
                (start_us - {t0}) * {bins} / {span} AS lo0 FROM {view} WHERE parent_id = ''),
            y AS (SELECT lane, colour, hi, least(lo0, hi) AS lo FROM x),
            z AS (SELECT lane, colour, hi, lo, CAST(floor(lo) AS BIGINT) AS b0,
                  CAST(floor(hi) AS BIGINT) AS b1 FROM y)
        SELECT lane, colour, b0, b1, coalesce(sum(hi - lo) FILTER (b0 = b1), 0) AS same,
            coalesce(sum(b0 + 1 - lo) FILTER (b0 <> b1), 0) AS head,
            coalesce(sum(hi - b1) FILTER (b0 <> b1), 0) AS tail, count(*) FILTER (b0 <> b1) AS n
        FROM z GROUP BY ALL"""
    ).df()
    parts = parts[parts["lane"] >= 0]
    grid = np.zeros((lanes, colours, bins))
    full = np.zeros((lanes, colours, bins + 1))
    where, colour = parts["lane"].to_numpy(), parts["colour"].to_numpy()
    b0, b1 = parts["b0"].to_numpy(), parts["b1"].to_numpy()
    np.add.at(grid, (where, colour, b0), parts["same"].to_numpy() + parts["head"].to_numpy())
    np.add.at(grid, (where, colour, b1), parts["tail"].to_numpy())
    cross = (b0 != b1).nonzero()[0]
    np.add.at(full, (where[cross], colour[cross], b0[cross] + 1), parts["n"].to_numpy()[cross])
    np.add.at(full, (where[cross], colour[cross], b1[cross]), -parts["n"].to_numpy()[cross])
    result: np.ndarray[Any, np.dtype[np.float64]] = grid + np.cumsum(full, axis=2)[:, :, :bins]
    return result


def _every_call(
    con: duckdb.DuckDBPyConnection, view: str, t0: int, lane: _Lanes, fmap: pd.DataFrame
) -> pd.DataFrame:
    """Every call of a small run: lane, colour, start and end (µs from t0), nesting depth, error."""

    calls = con.sql(
        f"SELECT host, pid, function, module, start_us - {t0} AS start, greatest(end_us, start_us) - {t0} "
        f"AS end, call_id, parent_id, status = 'error' AS error FROM {view}"
    ).df()
    calls = lane.of(calls.merge(fmap[["function", "module", "colour"]], on=["function", "module"]))
    calls["depth"] = depths(calls)
    return calls.drop(columns=["call_id", "parent_id", "function", "module"])


def _histograms(
    con: duckdb.DuckDBPyConnection, view: str, fine: pd.DataFrame, shown: list[str]
) -> dict[str, Histogram]:
    """Per shown function, its positive durations in HISTOGRAM_BINS bins (log-spaced when they span more
    than ten times), counted where they lie; ``fine`` has each (function, module)'s positive range."""
    g = fine.groupby(["function", "module", "label"], sort=False)
    ranges = pd.DataFrame(
        {
            "calls": g["calls"].sum(),
            "lo": g["pos_min"].min(),
            "hi": g["pos_max"].max(),
            "positive": g["positive"].sum(),
        }
    ).reset_index()
    ranges = ranges[ranges["label"].isin(shown)].copy()
    ranges["lo"], ranges["hi"] = ranges["lo"].astype(float), ranges["hi"].astype(float)
    edges: dict[str, np.ndarray[Any, np.dtype[np.float64]]] = {}
    params = []
    for r in ranges.itertuples():
        if not np.isfinite(r.lo) or r.lo == r.hi:
            continue
        if r.hi > 10 * r.lo:
            edges[r.label] = np.geomspace(r.lo, r.hi * 1.0001, HISTOGRAM_BINS + 1)
            params.append((r.function, r.module, r.label, True, r.lo, np.log(r.hi * 1.0001 / r.lo)))
        else:
            pad = (r.hi - r.lo) * 0.05
            edges[r.label] = np.linspace(r.lo - pad, r.hi + pad, HISTOGRAM_BINS + 1)
            params.append((r.function, r.module, r.label, False, r.lo - pad, r.hi - r.lo + 2 * pad))
    counts = pd.DataFrame(columns=["label", "bin", "n"])
    if params:
        con.register("_hist", pd.DataFrame(params, columns=["function", "module", "label", "log", "a", "w"]))
        counts = con.sql(
            f"""SELECT label, least({HISTOGRAM_BINS - 1}, greatest(0, CAST(floor(CASE WHEN log
                THEN ln(duration_s / a) / w ELSE (duration_s - a) / w END * {HISTOGRAM_BINS})
                AS BIGINT))) AS bin, count(*) AS n
                FROM {view} JOIN _hist USING (function, module) WHERE duration_s > 0 GROUP BY ALL"""
        ).df()
    found: dict[str, Histogram] = {}
    for r in ranges.itertuples():
        label = str(r.label)
        if label not in edges:  # no positive duration, or all equal: one bar (or nothing) at lo
            lo = float(r.lo) if np.isfinite(r.lo) else 0.0
            found[label] = Histogram(np.array([int(r.positive)]), np.array([lo, lo]), False, int(r.calls))
            continue
        mine = counts[counts["label"] == label]
        bars = np.bincount(mine["bin"].to_numpy(dtype=np.int64), mine["n"].to_numpy(), HISTOGRAM_BINS)
        found[label] = Histogram(bars.astype(np.int64), edges[label], bool(r.hi > 10 * r.lo), int(r.calls))
    return {name: found[name] for name in shown if name in found}


def _memory_levels(
    con: duckdb.DuckDBPyConnection, view: str, fmap: pd.DataFrame
) -> dict[str, np.ndarray[Any, np.dtype[np.float64]]]:
    """Per function, memory delta's min, p25, p50, p75 and p99 (for a summary made by pandas)."""
    levels = (
        con.sql(
            f"SELECT function, module, quantile_cont(mem_delta_mib, [0.0, 0.25, 0.5, 0.75, 0.99]) AS mq "
            f"FROM {view} WHERE mem_delta_mib IS NOT NULL GROUP BY ALL"
        )
        .df()
        .merge(fmap, on=["function", "module"])
    )
    return {str(r.label): np.asarray(r.mq, dtype=float) for r in levels.itertuples()}


def of_frame(df: pd.DataFrame, summary: stats.Summary) -> FigureData:
    """The figure data of a DataFrame of call rows (a notebook's ``load_run``), through DuckDB."""
    frame = pd.DataFrame(index=df.index)
    for name in schema.COLUMN_NAMES:
        if name not in df.columns:
            frame[name] = "" if name != "pid" else -1
        elif isinstance(df[name].dtype, pd.CategoricalDtype) or str(df[name].dtype).startswith("string"):
            frame[name] = df[name].astype(object).where(df[name].notna(), "")
        else:
            frame[name] = df[name]
    for column in ("mem_final_mib", "mem_delta_mib", "duration_s"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    if len(df):
        frame["start_us"], frame["end_us"] = to_micros(df["start_time"]), to_micros(df["end_time"])
    else:
        frame["start_us"], frame["end_us"] = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    con = duckdb.connect()
    try:
        con.register("frame_rows", frame.drop(columns=["args", "message"]))
        return figure_data(con, "frame_rows", summary)
    finally:
        con.close()


def depths(df: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Each call's nesting depth: 0 without a parent among the rows, else its parent's depth + 1."""
    parent = pd.Index(df["call_id"]).get_indexer(df["parent_id"])
    depth = np.zeros(len(df), dtype=np.int64)
    current = parent
    for _ in range(32):
        nested = current >= 0
        if not nested.any():
            break
        depth += nested
        current = np.where(nested, parent[np.maximum(current, 0)], -1)
    return depth
