"""Runs of a scanned log directory (:mod:`.scan`): list them and pick one without loading call rows.

:func:`open_run` gives the same :class:`~mpmon.analysis.selection.Run` as :func:`load.select_run`, but
its ``calls`` frame is empty and its ``source`` is the open scan whose view ``run_calls`` holds the run's
rows; :func:`summarize_run` and :func:`~mpmon.analysis.figdata.figure_data` aggregate that view.
:func:`run_rows` loads the rows when an output needs each of them (``--trace``, ``--export-rows``).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from mpmon.analysis import aggregate, figdata, hosts, load, readers, scan, selection, stats
from mpmon.analysis.selection import AnalysisError, Run

__all__ = ["RUN_VIEW", "list_runs", "open_run", "run_rows", "summarize_run"]

RUN_VIEW = "run_calls"
_TEXT_DTYPE = pd.StringDtype()


def open_run(
    log_dir: str | Path,
    run_id: str | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> Run | None:
    """The selected run of a scanned directory (as :func:`load.select_run` picks it), or None when the
    directory needs the loading path (the original module's logs)."""
    source = _open_source(log_dir)
    if source is None:
        return None
    path = source.path
    lo = selection.parse_time(start) if start is not None else None
    hi = selection.parse_time(end) if end is not None else None
    if lo is not None and hi is not None and lo > hi:
        raise AnalysisError(f"--start-time {lo} is after --end-time {hi}")
    runs = source.sql(
        'SELECT run_id, min(start_time) AS "first", max(end_time) AS "last", count(*) AS calls '
        "FROM calls GROUP BY run_id"
    ).df()
    if runs.empty:
        raise AnalysisError(f"no calls recorded in {path}")
    where, how = ["true"], "calls in a time window"
    if run_id is not None:
        chosen = selection._resolve_run_id(run_id, runs["run_id"], source.events)
        where, how = [f"run_id = {scan.sql_text(chosen)}"], "chosen by id"
    elif lo is None and hi is None:
        chosen, how = selection.pick_recent(runs.set_index("run_id"))
        where = [f"run_id = {scan.sql_text(chosen)}"]
    ids = None
    if lo is None and hi is None and where != ["true"]:  # one whole run: its row of ``runs`` says it all
        ids = runs[runs["run_id"] == chosen]
        if len(runs) == 1:  # every row is the run's: no filter to evaluate in each query
            where = ["true"]
    if lo is not None:
        where.append(f"end_time >= '{lo.isoformat()}'::TIMESTAMPTZ")
    if hi is not None:
        where.append(f"start_time <= '{hi.isoformat()}'::TIMESTAMPTZ")
    view = "SELECT * FROM calls" + ("" if where == ["true"] else f" WHERE {' AND '.join(where)}")
    source.con.execute(f"CREATE VIEW {RUN_VIEW} AS {view}")
    return _make_run(source, how, (lo, hi), run_id, ids)


def _open_source(log_dir: str | Path) -> scan.Source | None:
    """The scanned directory (None if it needs the loading path); AnalysisError if it is not one."""
    path = Path(log_dir)
    if not path.is_dir():
        raise AnalysisError(f"log directory {path} does not exist")
    return scan.open_source(path)


def _make_run(
    source: scan.Source, how: str, window: tuple[Any, Any], run_id: str | None, ids: pd.DataFrame | None
) -> Run:
    """The :class:`Run` of the view: its run ids (``ids``: run_id, first, last, if known already), error
    events, collector events and log lines."""
    if ids is None:
        ids = source.sql(
            f"SELECT run_id, min(start_time) AS first, max(end_time) AS last FROM {RUN_VIEW} "
            "GROUP BY run_id ORDER BY first"
        ).df()
    if ids.empty:
        raise AnalysisError(selection._empty_message(run_id, window[0], window[1], source.path))
    if window[0] is not None or window[1] is not None:
        how += f", active from {window[0] or 'the start'} to {window[1] or 'the end'}"
    if source.hosts:
        how += f", {len(source.hosts)} host partition{'s' if len(source.hosts) != 1 else ''}"
    run_ids = tuple(str(r) for r in ids["run_id"])
    sel = selection._Selection(
        run_ids=run_ids,
        window=window,
        span=(ids["first"].min(), ids["last"].max()),
        legacy_ids=pd.Series([], dtype=_TEXT_DTYPE),
    )
    entries, logs = sel.logs(source)
    failed = _failed_rows(source, RUN_VIEW)
    source.cache["failed"] = failed  # the errors figure's marks come from these rows too
    empty = readers.shape(scan_empty(), readers.ANALYSIS_COLUMNS).to_pandas()
    empty = hosts.add_lanes(empty)
    return Run(
        calls=empty,
        errors=selection.error_events(failed, entries).drop(columns="run_key"),
        run_ids=run_ids,
        selection=how,
        source=source,
        **logs,
    )


def _failed_rows(source: scan.Source, view: str) -> pd.DataFrame:
    """The failed calls of ``view``: the columns of :func:`selection.error_events`, and each one's
    process and end in µs (the timeline's error marks)."""
    return source.sql(
        "SELECT run_id, call_id, function, status, error_type, start_time, end_time, host, pid, end_us "
        f"FROM {view} WHERE status = 'error'"
    ).df()


def scan_empty() -> Any:
    """An empty results table in the schema's Arrow types."""
    from mpmon import schema

    return schema.arrow_schema().empty_table()


def summarize_run(run: Run, background: bool = False) -> stats.Summary:
    """The run's summary and figure data, aggregated where the rows lie (or from its frame if loaded).

    With ``background``, the figure data of a scanned run is aggregated on a thread of its own while the
    caller goes on (drawing the figures made from the summary alone): ``summary.extra["figures"]`` is
    then a Future until :func:`figdata.resolved` waits for it."""
    if run.source is None:
        summary = stats.summarize(run.calls)
        summary.extra["figures"] = figdata.of_frame(run.calls, summary)
        return summary
    summary = aggregate.summarize_view(run.source.con, RUN_VIEW, list(run.run_ids))
    failed = run.source.cache.get("failed")

    def aggregate_figures(con: Any) -> figdata.FigureData:
        return figdata.figure_data(con, RUN_VIEW, summary, failed)

    if not background:
        summary.extra["figures"] = aggregate_figures(run.source.con)
        return summary
    pool = ThreadPoolExecutor(1, thread_name_prefix="mpmon-figures")
    cursor = run.source.con.cursor()  # made here: the thread must not touch a connection in use here
    summary.extra["figures"] = pending = pool.submit(_on_cursor, cursor, aggregate_figures)
    run.source.cache["pending"] = pending  # closing the source waits for it
    pool.shutdown(wait=False)
    return summary


def _on_cursor(cursor: Any, task: Callable[[Any], Any]) -> Any:
    """``task`` on ``cursor`` (a connection of its own to the same database, so this thread can query
    while the one that made it uses its own; DuckDB releases the GIL meanwhile), then closed."""
    try:
        return task(cursor)
    finally:
        cursor.close()


def run_rows(run: Run, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Every call row of the run as a DataFrame (what ``--trace`` and ``--export-rows`` write): this
    one grows with calls."""
    if run.source is None:
        return run.calls
    names = ", ".join(f'"{c}"' for c in (columns or readers.ANALYSIS_COLUMNS))
    frame = run.source.sql(f"SELECT {names} FROM {RUN_VIEW}").df()
    for name in readers.CATEGORY_COLUMNS:
        if name in frame.columns:
            frame[name] = frame[name].astype("category")
    for name in ("start_time", "end_time"):
        if name in frame.columns:
            frame[name] = frame[name].astype("datetime64[us, UTC]")
    frame = hosts.add_lanes(frame)
    frame.attrs.setdefault("mpmon", {})["clock_offsets"] = run.clock_offsets
    return frame


def list_runs(log_dir: str | Path) -> pd.DataFrame | None:
    """:func:`load.list_runs` read from the tables' run ids and times alone; None for the loading path."""
    source = _open_source(log_dir)
    if source is None:
        return None
    try:
        runs = (
            source.sql(
                'SELECT run_id, min(start_time) AS start, max(end_time) AS "end", count(*) AS calls, '
                "count(DISTINCT (host, pid)) AS processes FROM calls GROUP BY run_id"
            )
            .df()
            .set_index("run_id")
        )
        failed = _failed_rows(source, "calls")
        counts = selection.error_events(failed, source.errors).groupby("run_key").size()
        runs["errors"] = counts[counts.index != ""]
    finally:
        source.close()
    for name in ("start", "end"):
        runs[name] = runs[name].astype("datetime64[us, UTC]")
    runs = load._merge_events(runs, source.events)
    for name in ("errors", "calls", "processes"):
        runs[name] = runs[name].fillna(0).astype("int64")
    runs["duration_s"] = (runs["end"] - runs["start"]).dt.total_seconds()
    runs["tag"] = [selection.tag_of(source.events, (key,)) for key in runs.index]
    runs = runs.rename_axis("run_id").reset_index().sort_values("start", kind="stable", ignore_index=True)
    return runs[["run_id", "tag", "start", "end", "duration_s", "calls", "processes", "errors"]]


def function_durations(log_dir: str | Path, run_id: str | None = None) -> pd.DataFrame:
    """Per function of a run (the most recent by default): calls, total_s, mean_s, p50_s, p95_s, p99_s,
    max_s, exact, without loading its rows (for ``mpmon-analyze compare``)."""
    run = open_run(log_dir, run_id)
    if run is None:
        return stats.summarize(load.load_run(log_dir, run_id)).functions[
            ["calls", "total_s", "mean_s", "p50_s", "p95_s", "p99_s", "max_s"]
        ]
    assert run.source is not None
    try:
        return aggregate.function_durations(run.source.con, RUN_VIEW)
    finally:
        run.source.close()


def slowest_calls(run: Run, summary: stats.Summary, top: int = 20) -> pd.DataFrame:
    """:func:`stats.slowest_calls` of the run: a top-N where the rows lie, then the arguments of those
    rows alone."""
    if run.source is None:
        return stats.slowest_calls(run.calls, top, summary.by_process, summary.by_function)
    con = run.source.con
    figdata.resolved(summary)  # the figure data's thread may be reading the slowest rows
    if top <= figdata.SLOWEST_ROWS:  # read with the timeline's marks, in the same order
        rows = figdata.slowest_rows(con, RUN_VIEW, summary).head(top)
    else:
        rows = con.sql(
            f"SELECT call_id, function, module, host, pid, duration_s, start_time, thread_name, status "
            f"FROM {RUN_VIEW} ORDER BY duration_s DESC NULLS LAST, call_id LIMIT {int(top)}"
        ).df()
    if rows.empty:
        return stats.slowest_calls(run.calls.iloc[:0], top)
    con.register("_slowest_ids", rows[["call_id"]])
    durations = rows["duration_s"].to_numpy(dtype=float)
    # the rows sought are at least as slow as the last of them: a cheap test first, which also lets
    # Parquet skip the row groups whose statistics hold no such duration
    floor = f"duration_s >= {float(durations.min())!r} AND " if np.isfinite(durations).all() else ""
    args = con.sql(
        f"SELECT call_id, any_value(args) AS args FROM {RUN_VIEW} "
        f"WHERE {floor}call_id IN (SELECT call_id FROM _slowest_ids) GROUP BY call_id"
    ).df()
    rows = rows.merge(args, on="call_id", how="left")
    _fine, fmap, procs = summary.extra.get("maps") or aggregate.maps(con, RUN_VIEW)
    labels = fmap.set_index(["function", "module"])["label"]
    lanes = procs.set_index(["host", "pid"])["label"]
    first = pd.Timestamp(summary.run["start"])
    start = rows["start_time"].astype("datetime64[us, UTC]")
    return pd.DataFrame(
        {
            "function": labels.reindex(pd.MultiIndex.from_frame(rows[["function", "module"]])).to_numpy(),
            "duration_s": rows["duration_s"].to_numpy(dtype=float),
            "start_time": start.to_numpy(),
            "offset_s": (start - first).dt.total_seconds().to_numpy(),
            "process": lanes.reindex(pd.MultiIndex.from_frame(rows[["host", "pid"]])).to_numpy(),
            "thread_name": rows["thread_name"].astype(str).to_numpy(),
            "status": rows["status"].astype(str).to_numpy(),
            "args": rows["args"].fillna("").astype(str).to_numpy(),
        },
        index=pd.Index(rows["call_id"].to_numpy(), name="call_id"),
    )
