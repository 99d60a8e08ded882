"""One run across hosts: the ``host=<name>/`` partitions of a root, process lanes, and clock alignment.

A multi-host root holds one ordinary log directory per host (``<root>/host=<name>/``). Processes are told
apart by (host, pid) everywhere: the loaded frame gets a ``lane`` column, ``"<host>:<pid>"``, a categorical
whose categories run host by host (hosts in order of their first call), then by each process's first call.
Each host may have logged its offset to the scheduler's clock (``clock_offset`` events in timing.log,
meaning scheduler_clock = host_clock + offset_s); figures and the trace draw each host shifted by its
median offset (:func:`aligned_micros`) while the tables keep the raw times.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from mpmon.analysis._convert import to_micros
from mpmon.analysis.jsonlines import EVENT_CLOCK_OFFSET
from mpmon.analysis.safe_files import skip, vet_directory

__all__ = [
    "HOST_PARTITION",
    "LANE_COLUMN",
    "add_lanes",
    "aligned_micros",
    "clock_offsets",
    "host_order",
    "partitions",
]

HOST_PARTITION = re.compile(r"host=(?P<host>.+)")
"""A host's directory under a multi-host root."""

LANE_COLUMN = "lane"
"""The process key column added to loaded call rows: ``"<host>:<pid>"``."""


def partitions(root: Path) -> dict[str, Path]:
    """``host name -> directory`` of every ``host=<name>/`` directory under ``root``, sorted by name."""
    found = {}
    for child in sorted(root.iterdir()) if root.is_dir() else []:
        match = HOST_PARTITION.fullmatch(child.name)
        if match and (child.is_dir() or child.is_symlink()):
            reason = vet_directory(child)
            if reason is None:
                found[match["host"]] = child
            else:
                skip(child, reason)
    return found


def clock_offsets(events: Sequence[Mapping[str, Any]], run_ids: Sequence[str] = ()) -> dict[str, float]:
    """Each host's median clock offset (seconds) among the ``clock_offset`` events of the runs
    (all runs if ``run_ids`` is empty); hosts without one are left out (offset 0)."""
    wanted = set(run_ids)
    samples: dict[str, list[float]] = {}
    for event in events:
        if event.get("event") != EVENT_CLOCK_OFFSET or (wanted and event.get("run_id") not in wanted):
            continue
        try:
            offset = float(event.get("offset_s"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if np.isfinite(offset):
            samples.setdefault(str(event.get("host") or ""), []).append(offset)
    return {host: float(np.median(values)) for host, values in samples.items()}


def add_lanes(calls: pd.DataFrame) -> pd.DataFrame:
    """Add the ``lane`` column (categorical ``"<host>:<pid>"``, hosts by first call, then processes by
    first call); ``calls.attrs["mpmon"]["hosts"]`` gets the host order."""
    if calls.empty:
        calls[LANE_COLUMN] = pd.Categorical([], categories=[])
        return calls
    hcodes, hosts = pd.factorize(calls["host"], sort=False)
    pid = calls["pid"].to_numpy(dtype=np.int64)
    key = hcodes.astype(np.int64) * (int(pid.max()) - int(pid.min()) + 1) + (pid - int(pid.min()))
    codes, keys = pd.factorize(key, sort=False)  # hashing: no sort of every row
    first = np.empty(len(keys), dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)  # the last write wins: each lane's first row
    lane_start = pd.Series(to_micros(calls["start_time"])).groupby(codes).min().to_numpy()
    lane_host = hcodes[first].astype(np.int64)
    host_start = pd.Series(lane_start).groupby(lane_host).min().reindex(lane_host).to_numpy()
    order = np.lexsort((lane_start, lane_host, host_start))
    names = [f"{hosts[hcodes[first[i]]]}:{pid[first[i]]}" for i in order]
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order] = np.arange(len(keys))
    calls[LANE_COLUMN] = pd.Categorical.from_codes(rank[codes], categories=pd.Index(names, dtype=str))
    calls.attrs.setdefault("mpmon", {})["hosts"] = list(dict.fromkeys(hosts[hcodes[first[i]]] for i in order))
    return calls


def host_order(calls: pd.DataFrame) -> list[str]:
    """The hosts in lane order (as :func:`add_lanes` recorded them, else by first appearance)."""
    recorded = calls.attrs.get("mpmon", {}).get("hosts")
    return list(recorded) if recorded is not None else [str(h) for h in pd.unique(calls["host"])]


def aligned_micros(
    calls: pd.DataFrame, column: str, offsets: Mapping[str, float] | None = None
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """A time column in microseconds on the scheduler's clock: each host's times plus its offset.

    ``offsets`` defaults to ``calls.attrs["mpmon"]["clock_offsets"]`` (set by the loader); without
    offsets the raw times are returned.
    """
    micros = to_micros(calls[column])
    if offsets is None:
        offsets = calls.attrs.get("mpmon", {}).get("clock_offsets") or {}
    if not offsets or calls.empty:
        return micros
    codes, hosts = pd.factorize(calls["host"], sort=False)
    shift = np.array([round(offsets.get(str(h), 0.0) * 1e6) for h in hosts], dtype=np.int64)
    aligned: np.ndarray[Any, np.dtype[np.int64]] = micros + shift[codes]
    return aligned
