"""Picking one run out of everything read from a log directory (or a multi-host root).

A run is its ``run_id`` (or a unique prefix), else the calls active in a time window, else the most
recent run; rows without a run id (the original module's logs) form runs by dense clusters of time. The
selected :class:`Run` carries its calls (with the ``lane`` process key of :mod:`.hosts`), its error events,
its collector events, each host's clock offset and its raw log lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from mpmon import schema
from mpmon.analysis import hosts
from mpmon.analysis._convert import to_micros
from mpmon.analysis.jsonlines import EVENT_CLOCK_OFFSET, LineLog

__all__ = [
    "CLUSTER_GAP_S",
    "RUN_EVENTS",
    "AnalysisError",
    "LogDir",
    "Run",
    "error_events",
    "parse_time",
    "run_keys",
    "select_run",
    "tag_of",
]

CLUSTER_GAP_S = 60.0
"""Calls without a run id belong to one run while no gap between them is longer than this (seconds)."""

RUN_EVENTS = (schema.RUN_START_EVENT, schema.RUN_SUMMARY_EVENT, EVENT_CLOCK_OFFSET)
"""The collector's events kept from timing.log (never counted as calls)."""


class AnalysisError(Exception):
    """A problem with what the user asked for (no logs, unknown run, empty window): exit 2, no traceback."""


@dataclass(frozen=True)
class LogDir:
    """Everything read from one log directory (or every host partition of a root), before a run is picked."""

    path: Path
    calls: pd.DataFrame  # every call row, columns and types of mpmon.schema, call_id unique
    errors: pd.DataFrame  # every error.log entry: jsonlines.ERROR_COLUMNS
    events: list[dict[str, Any]]  # run_start, run_summary and clock_offset objects from timing.log
    timing_log: LineLog
    error_log: LineLog
    skipped: dict[str, int] = field(default_factory=dict)  # file name -> lines that did not parse
    hosts: tuple[str, ...] = ()  # the host partitions read, if the directory was a multi-host root


class Logs(Protocol):
    """What a directory's logs offer a selection, loaded (:class:`LogDir`) or scanned (`scan.Source`)."""

    @property
    def path(self) -> Path: ...
    @property
    def errors(self) -> pd.DataFrame: ...
    @property
    def events(self) -> list[dict[str, Any]]: ...
    @property
    def timing_log(self) -> LineLog: ...
    @property
    def error_log(self) -> LineLog: ...
    @property
    def skipped(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class Run:
    """One selected run: its call rows and error events, its collector events and its raw log lines."""

    log_dir: Path
    calls: pd.DataFrame  # schema columns read, plus ``lane``; attrs["mpmon"] has hosts and clock_offsets
    errors: pd.DataFrame  # error events: time, function, error_type, run_id, call_id, origin
    run_ids: tuple[str, ...]
    tag: str
    selection: str  # how the rows were picked, in words ("the most recent run", ...)
    events: list[dict[str, Any]]
    timing_lines: list[bytes]
    error_lines: list[bytes]
    skipped: dict[str, int]
    clock_offsets: dict[str, float] = field(default_factory=dict)  # host -> seconds to the scheduler
    source: Any = None  # a scanned run (mpmon.analysis.scan.Source, view run_calls): calls is then empty


def parse_time(text: str | pd.Timestamp) -> pd.Timestamp:
    """A UTC timestamp from ``"2025-01-01 12:00:00"`` (naive means UTC) or ISO 8601 with an offset."""
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError) as exc:
        raise AnalysisError(
            f"cannot read the time {text!r}: use 'YYYY-MM-DD HH:MM:SS' (UTC) or ISO 8601"
        ) from exc
    if stamp is pd.NaT:
        raise AnalysisError(f"cannot read the time {text!r}")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def run_keys(calls: pd.DataFrame, gap_s: float = CLUSTER_GAP_S) -> pd.Series:
    """Each row's run: its run_id, or for rows without one a ``cluster-<start>`` name from time gaps."""
    keys = calls["run_id"]
    legacy = (keys == "").to_numpy()
    if not legacy.any():
        return keys
    labels = _cluster_labels(calls.loc[legacy, "start_time"], calls.loc[legacy, "end_time"], gap_s)
    keys = keys.astype("string")
    keys[legacy] = labels
    return keys


def select_run(
    data: LogDir,
    run_id: str | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> Run:
    """Pick rows: ``run_id`` (or a unique prefix), else the window, else the most recent run."""
    lo = parse_time(start) if start is not None else None
    hi = parse_time(end) if end is not None else None
    if lo is not None and hi is not None and lo > hi:
        raise AnalysisError(f"--start-time {lo} is after --end-time {hi}")
    keys = run_keys(data.calls)
    if run_id is not None:
        chosen = _resolve_run_id(run_id, keys, data.events)
        mask, how = (keys == chosen).to_numpy(), "chosen by id"
    elif lo is not None or hi is not None:
        mask, how = np.ones(len(keys), dtype=bool), "calls in a time window"
    else:
        chosen, how = _most_recent(data.calls, keys, data.path)
        mask = (keys == chosen).to_numpy()
    mask = mask & _in_window(data.calls, lo, hi)
    if not mask.any():
        raise AnalysisError(_empty_message(run_id, lo, hi, data.path))
    if lo is not None or hi is not None:
        how += f", active from {lo or 'the start'} to {hi or 'the end'}"
    if data.hosts:
        how += f", {len(data.hosts)} host partition{'s' if len(data.hosts) != 1 else ''}"
    return _make_run(data, mask, keys, how, (lo, hi))


def _resolve_run_id(run_id: str, keys: pd.Series, events: list[dict[str, Any]]) -> str:
    """The run key ``run_id`` names exactly or as a unique prefix; :class:`AnalysisError` otherwise."""
    known = sorted(
        {str(k) for k in keys.unique()} | {str(e.get("run_id")) for e in events if e.get("run_id")}
    )
    if run_id in known:
        return run_id
    matches = [k for k in known if k.startswith(run_id)] if run_id else []
    if len(matches) == 1:
        return matches[0]
    shown = ", ".join(known[-5:]) or "none"
    what = "is ambiguous" if matches else "is unknown"
    raise AnalysisError(f"run id {run_id!r} {what} (runs: {shown}; see --list-runs)")


def _most_recent(calls: pd.DataFrame, keys: pd.Series, path: Path) -> tuple[str, str]:
    """The key of the run with the most calls among the runs of the most recent period, and how it was
    picked in words. The period starts CLUSTER_GAP_S before the first call of the run that started last:
    a cluster's run and a small run of its client beside it are both in it, and the cluster's is picked
    (the others are named, with how to choose one); a run that ended long before is not."""
    if calls.empty:
        raise AnalysisError(f"no calls recorded in {path}")
    grouped = calls.groupby(keys, sort=False, observed=True)
    runs = pd.DataFrame({"first": grouped["start_time"].min(), "last": grouped["end_time"].max()})
    runs["calls"] = grouped.size()
    return pick_recent(runs)


def pick_recent(runs: pd.DataFrame) -> tuple[str, str]:
    """:func:`_most_recent`'s rule over one row per run (index: the run key; columns ``first``, ``last``
    and ``calls``), so that a reader that aggregates where the data lies applies the same rule."""
    period = runs["first"].max() - pd.Timedelta(seconds=CLUSTER_GAP_S)
    recent = runs[runs["last"] >= period].sort_values(["calls", "first"], ascending=False, kind="stable")
    chosen = str(recent.index[0])
    if len(recent) == 1:
        return chosen, "the most recent run"
    others = ", ".join(f"{key} ({count} calls)" for key, count in recent["calls"].iloc[1:].items())
    how = (
        f"the run with the most calls of the {len(recent)} runs of the most recent period; also {others}: "
        "choose one with --run"
    )
    return chosen, how


def _in_window(calls: pd.DataFrame, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> Any:
    """Rows active during [lo, hi]: ending at or after ``lo`` and starting at or before ``hi``."""
    mask = np.ones(len(calls), dtype=bool)
    if lo is not None:
        mask &= (calls["end_time"] >= lo).to_numpy()
    if hi is not None:
        mask &= (calls["start_time"] <= hi).to_numpy()
    return mask


def _between(ts: pd.Series, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> pd.Series:
    """Which timestamps lie in [lo, hi] (an open end is unbounded; a missing time is outside)."""
    inside = ts.notna()
    if lo is not None:
        inside &= ts >= lo
    if hi is not None:
        inside &= ts <= hi
    return inside


def _empty_message(run_id: str | None, lo: pd.Timestamp | None, hi: pd.Timestamp | None, path: Path) -> str:
    """Why a selection came out empty, in one line."""
    if lo is None and hi is None:
        return f"run {run_id} has no calls in {path}"
    what = f"run {run_id}" if run_id else str(path)
    return f"no calls in {what} between {lo or 'the start'} and {hi or 'the end'}"


@dataclass(frozen=True)
class _Selection:
    """What was picked: the run ids, the time window asked for, and the rows' own time span."""

    run_ids: tuple[str, ...]
    window: tuple[pd.Timestamp | None, pd.Timestamp | None]
    span: tuple[pd.Timestamp, pd.Timestamp]
    legacy_ids: pd.Series  # call_ids of selected rows that have no run id

    def lines(self, ts: pd.Series, run_id: pd.Series, uuid: pd.Series, event: pd.Series | None) -> pd.Series:
        """Which log lines belong: the runs' lines in the window (and their run events), id-less lines
        of the selected calls or within their time span."""
        of_run = run_id.isin(self.run_ids)
        keep = of_run & _between(ts, *self.window)
        if event is not None:
            keep |= of_run & event.isin(RUN_EVENTS)
        if not self.legacy_ids.empty:
            keep |= (run_id == "") & (uuid.isin(self.legacy_ids) | _between(ts, *self.span))
        return keep

    def logs(self, data: Logs) -> tuple[pd.DataFrame, dict[str, Any]]:
        """From a directory's logs (loaded, or scanned): the error.log entries that belong, and the
        :class:`Run` fields of the selected runs' collector events and raw lines."""
        found = data.errors
        entries = found[self.lines(found["timestamp"], found["run_id"], found["uuid"], None).to_numpy()]
        events = [e for e in data.events if e.get("run_id") in self.run_ids]
        timing, errs = data.timing_log.index, data.error_log.index
        return entries, {
            "log_dir": data.path,
            "tag": tag_of(data.events, self.run_ids),
            "events": events,
            "timing_lines": data.timing_log.select(
                self.lines(timing["timestamp"], timing["run_id"], timing["uuid"], timing["event"])
            ),
            "error_lines": data.error_log.select(
                self.lines(errs["timestamp"], errs["run_id"], errs["uuid"], None)
            ),
            "skipped": dict(data.skipped),
            "clock_offsets": hosts.clock_offsets(events),
        }


def _make_run(data: LogDir, mask: Any, keys: pd.Series, how: str, window: tuple[Any, Any]) -> Run:
    """The :class:`Run` of the selected rows, with its errors, events and raw lines."""
    calls = data.calls.copy(deep=False) if mask.all() else _subset(data.calls, mask)
    picked = keys if mask.all() else keys[mask].reset_index(drop=True)
    by_start = calls["start_time"].groupby(picked, observed=True).min().sort_values()
    first_by_id = calls["start_time"].groupby(calls["run_id"], observed=True).min().sort_values()
    sel = _Selection(
        run_ids=tuple(str(k) for k in first_by_id.index if k),
        window=window,
        span=(calls["start_time"].min(), calls["end_time"].max()),
        legacy_ids=calls.loc[(calls["run_id"] == "").to_numpy(), "call_id"],
    )
    entries, logs = sel.logs(data)
    calls = hosts.add_lanes(calls)
    calls.attrs.setdefault("mpmon", {})["clock_offsets"] = logs["clock_offsets"]
    return Run(
        calls=calls,
        errors=error_events(calls, entries).drop(columns="run_key"),
        run_ids=tuple(str(k) for k in by_start.index),
        selection=how,
        **logs,
    )


def _subset(calls: pd.DataFrame, mask: Any) -> pd.DataFrame:
    """The rows of ``mask``, categoricals holding only the values these rows use."""
    rows = calls[mask].reset_index(drop=True)
    for name in rows.columns:
        if isinstance(rows[name].dtype, pd.CategoricalDtype):
            rows[name] = rows[name].cat.remove_unused_categories()
    return rows


def error_events(calls: pd.DataFrame, entries: pd.DataFrame) -> pd.DataFrame:
    """Errors: rows with status ``error``, plus error.log entries that match no such row (by uuid)."""
    failed_mask = (calls["status"] == "error").to_numpy()
    failed = calls[failed_mask]
    extra = entries[(~entries["uuid"].isin(failed["call_id"]) | (entries["uuid"] == "")).to_numpy()]
    parts = [
        _events_frame(failed["end_time"], failed, failed["call_id"], "results", run_keys(calls)[failed_mask]),
        _events_frame(extra["timestamp"], extra, extra["uuid"], schema.ERROR_LOG, extra["run_id"]),
    ]
    events = pd.concat([p for p in parts if not p.empty] or parts[:1], ignore_index=True)
    return events.sort_values("time", kind="stable", ignore_index=True)


def _events_frame(
    time: pd.Series, rows: pd.DataFrame, call_id: pd.Series, origin: str, run_key: pd.Series
) -> pd.DataFrame:
    """Error events in one shape: time, function, error_type, run_id, call_id, origin, run_key."""
    frame = pd.DataFrame(
        {
            "time": time.to_numpy(),
            "function": rows["function"].to_numpy(),
            "error_type": rows["error_type"].to_numpy(),
            "run_id": rows["run_id"].to_numpy(),
            "call_id": call_id.to_numpy(),
            "origin": origin,
            "run_key": run_key.to_numpy(),
        }
    )
    frame["time"] = pd.to_datetime(frame["time"], utc=True).astype("datetime64[us, UTC]")
    for name in ("function", "error_type", "run_id", "call_id", "origin", "run_key"):
        frame[name] = frame[name].astype("string")
    return frame


def tag_of(events: list[dict[str, Any]], run_ids: Iterable[str]) -> str:
    """The tag the collector recorded for the runs (``run_start`` or ``run_summary``), or ``""``."""
    wanted = set(run_ids)
    tags = dict.fromkeys(str(e["tag"]) for e in events if e.get("run_id") in wanted and e.get("tag"))
    return ", ".join(tags)


def _cluster_labels(start: pd.Series, end: pd.Series, gap_s: float) -> np.ndarray[Any, np.dtype[Any]]:
    """Label calls by dense clusters: a new cluster starts after a gap longer than ``gap_s`` seconds."""
    begin, finish = to_micros(start), to_micros(end)
    order = np.argsort(begin, kind="stable")
    reach = np.maximum.accumulate(finish[order])
    first = np.ones(len(order), dtype=bool)
    first[1:] = begin[order][1:] > reach[:-1] + int(gap_s * 1e6)
    starts = begin[order][first]
    names = np.array([f"cluster-{pd.Timestamp(int(us), unit='us'):%Y%m%dT%H%M%S}" for us in starts])
    labels = np.empty(len(order), dtype=object)
    labels[order] = names[np.cumsum(first) - 1]
    return labels
