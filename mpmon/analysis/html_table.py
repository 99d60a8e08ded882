"""HTML tables of the report: the columns a reader needs, each value in its unit, and no column that
holds only zeros or blanks (the CSV beside the page keeps every column)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from mpmon import units

__all__ = ["Column", "cell", "escape", "table"]


@dataclass(frozen=True)
class Column:
    """A table column: the frame's column, its header, and how its values read (``kind``)."""

    key: str
    header: str
    kind: str  # duration, percent, memory, count, time, offset, flag, name, text


def escape(value: Any) -> str:
    """HTML-escaped text."""
    return html.escape(str(value), quote=True)


def table(frame: pd.DataFrame, key: str, columns: Sequence[Column], csv: str = "", limit: int = 200) -> str:
    """A DataFrame as an HTML table of ``columns``, leaving out those that hold only zeros or blanks."""
    shown = [c for c in columns if c.key in frame.columns and not _blank(frame[c.key], c.kind)]
    left = [c.header for c in columns if c.key in frame.columns and c not in shown]
    head = "".join(f"<th>{escape(h)}</th>" for h in [key, *(c.header for c in shown)])
    body = []
    for index, row in frame.head(limit).iterrows():
        cells = "".join(_td(c, row[c.key]) for c in shown)
        body.append(f"<tr><td class='name'>{escape(index)}</td>{cells}</tr>")
    notes = []
    if len(frame) > limit:
        notes.append(f"{units.plural(len(frame) - limit, 'more row')} in {csv}")
    if left:
        notes.append(f"left out, only zeros or blanks: {', '.join(left)}")
    if csv:
        notes.append(f"every column: {csv}")
    note = f"<p class='meta'>{escape('; '.join(notes))}</p>" if notes else ""
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{note}"


def _blank(values: pd.Series, kind: str) -> bool:
    """Whether a column has nothing to say: all missing, or (numbers) all zero."""
    if kind in ("text", "name", "time", "flag"):
        return bool(values.isna().all()) if kind != "flag" else False
    numbers = pd.to_numeric(values, errors="coerce").fillna(0)
    return bool((numbers == 0).all())


def _td(column: Column, value: Any) -> str:
    """One cell."""
    css = " class='text'" if column.kind == "text" else ""
    return f"<td{css}>{escape(cell(column.kind, value))}</td>"


def cell(kind: str, value: Any) -> str:
    """A value as a table shows it: durations and memory in their units, counts as integers."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return ""
    if kind == "duration":
        return units.format_duration(float(value))
    if kind == "offset":
        return "+" + units.format_duration(float(value))
    if kind == "memory":
        return units.format_memory(float(value))
    if kind == "percent":
        return f"{float(value):.1%}"
    if kind == "count":
        return units.count(int(value))
    if kind == "time":
        return str(pd.Timestamp(value).strftime("%H:%M:%S.%f"))
    if kind == "flag":
        return "yes" if bool(value) else "no"
    return str(value)
