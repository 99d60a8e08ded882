"""Render the rows as one text table and write them, with the machine they ran on, to a JSON file."""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.core import NOT_AVAILABLE, Row

PACKAGES = ("mpmon", "pandas", "pyarrow", "numpy", "psutil", "matplotlib", "multiprocess", "codetiming")
HEADERS = (
    "#",
    "section",
    "measure",
    "mpmon",
    "unit",
    "baseline",
    "baseline value",
    "ratio",
    "target",
    "mark",
)


def fmt(value: float | None) -> str:
    """A figure with about three significant digits ("n/a" when missing)."""
    if value is None:
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if magnitude >= 10 else f"{value:.2f}" if magnitude >= 1 else f"{value:.3f}"


def mark(row: Row) -> str:
    """pass, MISS or blank (no target, or nothing measured)."""
    return "" if row.passed is None else "pass" if row.passed else "MISS"


def cells(index: int, row: Row) -> tuple[str, ...]:
    """The row's table cells, in HEADERS order."""
    ratio = "" if row.ratio is None else f"{row.ratio:.3g}x"
    value = NOT_AVAILABLE if row.value is None else fmt(row.value)
    base = fmt(row.baseline_value) if row.baseline else ""
    return (
        str(index),
        row.section,
        row.measure,
        value,
        row.unit,
        row.baseline,
        base,
        ratio,
        row.target,
        mark(row),
    )


def table(rows: list[Row]) -> str:
    """One aligned text table, then the notes of the rows that have one (numbered like the rows)."""
    body = [HEADERS, *(cells(i, row) for i, row in enumerate(rows, 1))]
    widths = [max(len(line[col]) for line in body) for col in range(len(HEADERS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in body
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    notes = [f"[{i}] {row.note}" for i, row in enumerate(rows, 1) if row.note]
    return "\n".join([*lines, "", *notes] if notes else lines)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform.processor() elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def version(package: str) -> str | None:
    """An installed package's version, None if it is not installed."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    """The checked-out commit of the repository (read only), None outside git or before the first commit."""
    result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    return result.stdout.strip() or None


def machine() -> dict[str, Any]:
    """What the figures depend on: CPU, cores, memory, Python, packages, start method and date."""
    import psutil

    return {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "start_method": multiprocessing.get_start_method(),
        "packages": {name: version(name) for name in PACKAGES},
        "git_commit": git_commit(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_json(path: Path, rows: list[Row], run: dict[str, Any]) -> None:
    """Write rows, run settings and machine info to path (through a .tmp file: never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"run": run, "machine": machine(), "rows": [row.as_dict() for row in rows]}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    tmp.replace(path)
