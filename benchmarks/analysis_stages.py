"""Where one ``mpmon-analyze`` run spends its CPU: each stage, each figure, each DuckDB query (``--queries``).

    python -m benchmarks.analysis_stages LOGDIR [--queries]

Runs the analysis's steps in this process, one after the other (the figure data not on a thread), and
prints the CPU seconds of each (``time.process_time``: every thread of the process, so DuckDB's too) and
its wall seconds. On a shared machine the CPU seconds are the figures to compare; run the script of a
base checkout (its own venv, its tree as the working directory) on the same LOGDIR to compare two trees.
"""

from __future__ import annotations

import argparse
import io
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_CLOCK = [time.process_time(), time.perf_counter()]


def lap(name: str) -> None:
    """Print the CPU and wall seconds since the last lap."""
    now = [time.process_time(), time.perf_counter()]
    print(f"{name:32s} cpu {now[0] - _CLOCK[0]:6.2f}  wall {now[1] - _CLOCK[1]:6.2f}", flush=True)
    _CLOCK[:] = now


class _Timed:
    """A DuckDB relation whose materializing calls are timed into ``log``."""

    def __init__(self, relation: Any, query: str, log: list[tuple[float, float, str]]) -> None:
        self._relation, self._query, self._log = relation, query, log

    def _run(self, name: str, *args: Any) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        out = getattr(self._relation, name)(*args)
        self._log.append((time.process_time() - cpu, time.perf_counter() - wall, self._query))
        return out

    def df(self) -> Any:
        return self._run("df")

    def fetchall(self) -> Any:
        return self._run("fetchall")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._relation, name)


class _Connection:
    """A DuckDB connection whose queries are timed into ``log``."""

    def __init__(self, con: Any, log: list[tuple[float, float, str]]) -> None:
        self._con, self._log = con, log

    def sql(self, query: str, params: Any = None) -> _Timed:
        return _Timed(self._con.sql(query, params=params), query, self._log)

    def execute(self, query: str, *args: Any) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        out = self._con.execute(query, *args)
        self._log.append((time.process_time() - cpu, time.perf_counter() - wall, query))
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def _time_queries(log: list[tuple[float, float, str]]) -> None:
    """Make the scan's connections time every query."""
    from mpmon.analysis import scan

    connect: Callable[..., Any] = scan.connect

    def timed(*args: Any, **kwargs: Any) -> Any:
        con, spill = connect(*args, **kwargs)
        return _Connection(con, log), spill

    scan.connect = timed  # type: ignore[assignment]


def main(log_dir: Path, queries: bool) -> None:
    """Run the analysis of ``log_dir`` stage by stage and print what each cost."""
    import matplotlib

    matplotlib.use("Agg")
    from mpmon.analysis import figures, scanned
    from mpmon.analysis.error_groups import error_groups

    lap("imports")
    log: list[tuple[float, float, str]] = []
    if queries:
        _time_queries(log)
    run = scanned.open_run(log_dir)
    assert run is not None, "a directory the scan does not read (the original module's logs)"
    lap("open_run")
    summary = scanned.summarize_run(run)
    lap("summarize_run (+ figure data)")
    for name, plot in figures.FIGURES.items():
        extra = {"errors": run.errors} if name == "errors_over_time" else {}
        figure = plot(run.calls, summary=summary, **extra)
        figure.savefig(io.BytesIO(), format="png", dpi=figures.DPI)
        lap(f"  figure {name}")
    error_groups(run.errors, run.error_lines)
    scanned.slowest_calls(run, summary, 20)
    lap("error groups, slowest calls")
    if queries:
        print(f"\n{len(log)} queries: cpu {sum(x[0] for x in log):.2f}  wall {sum(x[1] for x in log):.2f}")
        for cpu, wall, query in sorted(log, key=lambda x: -x[0]):
            one_line = re.sub(r"\s+", " ", query)[:120]
            print(f"{cpu:6.2f} {wall:6.2f}  {one_line}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log_dir", type=Path)
    parser.add_argument("--queries", action="store_true", help="also each DuckDB query's CPU and wall")
    options = parser.parse_args()
    main(options.log_dir, options.queries)
