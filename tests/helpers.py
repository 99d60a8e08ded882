"""Helpers for tests that run real programs and read the files they leave behind."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as ds

from mpmon import schema

ROOT = Path(__file__).resolve().parent.parent


def run_program(
    directory: Path,
    source: str,
    *args: str,
    timeout: float = 180,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Write `source` to directory/prog.py and run it there in a fresh interpreter."""
    script = directory / "prog.py"
    script.write_text(textwrap.dedent(source))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MPMON_")}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environment.get("PYTHONPATH")]))
    environment.update(env or {})
    done = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=directory,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done


def mpmon_modules() -> list[str]:
    """The dotted name of every module of the mpmon package, from its source tree."""
    names = []
    for path in sorted((ROOT / "mpmon").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def json_lines(log_dir: Path, name: str) -> list[dict[str, Any]]:
    """Every line of a rotating JSON-lines log (oldest backup first), each parsed with json.loads."""
    paths = sorted(glob.glob(str(log_dir / f"{name}.*")), key=lambda p: -int(p.rsplit(".", 1)[1]))
    if (log_dir / name).exists():
        paths.append(str(log_dir / name))
    entries = []
    for path in paths:
        with open(path, encoding="utf-8") as lines:
            entries += [json.loads(line) for line in lines]
    return entries


def call_lines(log_dir: Path) -> list[dict[str, Any]]:
    return [e for e in json_lines(log_dir, schema.TIMING_LOG) if e.get("event") == schema.EVENT_CALL]


def read_csv(log_dir: Path) -> pd.DataFrame:
    floats = [c.name for c in schema.COLUMNS if c.kind == "float"]
    frame = pd.read_csv(
        log_dir / schema.RESULTS_CSV, keep_default_na=False, na_values={name: ["", "nan"] for name in floats}
    )
    assert tuple(frame.columns) == schema.COLUMN_NAMES
    return frame


def read_parquet(log_dir: Path) -> pd.DataFrame:
    table = ds.dataset(log_dir / schema.RESULTS_PARQUET, format="parquet").to_table()
    assert table.schema.equals(schema.arrow_schema()), table.schema
    return table.to_pandas()


def read_results(log_dir: Path, results_format: str) -> pd.DataFrame:
    return read_parquet(log_dir) if results_format == "parquet" else read_csv(log_dir)
