"""Loosely typed rows (text, numbers, None from JSON lines or old tables) turned into schema types.

Shared by the results-table readers and the JSON-lines reader: what does not convert becomes missing,
and rows without usable times are skipped and counted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa

from mpmon import schema

__all__ = ["convert", "to_micros", "typed_arrow"]


def to_micros(times: pd.Series) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Microseconds since the epoch of a UTC timestamp column, as int64."""
    return np.asarray(times.array.as_unit("us").asi8, dtype=np.int64)


def typed_arrow(frame: pd.DataFrame, name: str, skipped: dict[str, int]) -> pa.Table:
    """Loosely typed rows (text, numbers, None) as a schema table; rows without usable times are skipped."""
    typed = pd.DataFrame(index=frame.index)
    for column in schema.COLUMNS:
        values = frame[column.name] if column.name in frame.columns else pd.Series(None, index=frame.index)
        typed[column.name] = convert(values, column.kind)
    typed = _repair_times(typed)
    usable = typed["start_time"].notna() & typed["end_time"].notna() & typed["duration_s"].notna()
    skipped[name] = skipped.get(name, 0) + int((~usable).sum())
    return pa.Table.from_pandas(typed[usable], schema=schema.arrow_schema(), preserve_index=False)


def convert(values: pd.Series, kind: str) -> pd.Series:
    """One loosely typed column converted to its schema kind; what does not convert becomes missing."""
    if kind == "timestamp":
        text = values.astype("string").str.replace(",", ".", n=1, regex=False)
        return pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce").astype("datetime64[us, UTC]")
    if kind == "float":
        return pd.to_numeric(values, errors="coerce").astype("float64")
    if kind == "int":
        return pd.to_numeric(values, errors="coerce").fillna(-1).astype("int64")
    return values.where(values.notna(), "").astype(str).astype("string")


def _repair_times(rows: pd.DataFrame) -> pd.DataFrame:
    """Fill a missing start, end or duration from the other two (old logs give only end and duration)."""
    duration = pd.to_timedelta(rows["duration_s"], unit="s")
    rows["start_time"] = rows["start_time"].fillna(rows["end_time"] - duration)
    rows["end_time"] = rows["end_time"].fillna(rows["start_time"] + duration)
    spent = (rows["end_time"] - rows["start_time"]).dt.total_seconds()
    rows["duration_s"] = rows["duration_s"].fillna(spent)
    return rows
