"""``python -m benchmarks``: run the sections, print one table, write benchmarks/results/latest.json.

python -m benchmarks                 # the full run (about 10 minutes on 2 cores)
python -m benchmarks --quick         # a smoke run with fewer calls and repetitions
python -m benchmarks --only overhead # one section (see --help for the names)
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from time import perf_counter

from benchmarks import report
from benchmarks.core import ForeignCpu, Row, Settings

SECTIONS = {  # name -> module with run(settings) -> list[Row], in table order
    "overhead": "benchmarks.overhead",
    "throughput": "benchmarks.throughput",
    "end_to_end": "benchmarks.end_to_end",
    "startup": "benchmarks.startup",
    "analysis": "benchmarks.analysis_cost",
    "accuracy": "benchmarks.accuracy",
}
DEFAULT_OUTPUT = Path(__file__).parent / "results" / "latest.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """--quick, --only NAME (repeatable) and --output PATH."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and repetitions (a smoke run)")
    parser.add_argument("--only", action="append", choices=list(SECTIONS), help="run only this section")
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON file (default {DEFAULT_OUTPUT})"
    )
    return parser.parse_args(argv)


def run_section(name: str, settings: Settings) -> tuple[list[Row], float, float]:
    """Run one section: its rows, wall seconds and the CPU seconds other processes used meanwhile.

    A section that crashes becomes one row saying so, and the others still run.
    """
    start, foreign = perf_counter(), ForeignCpu()
    print(f"running {name} ...", file=sys.stderr, flush=True)
    try:
        section: Callable[[Settings], list[Row]] = importlib.import_module(SECTIONS[name]).run
        rows = section(settings)
    except Exception as exc:
        traceback.print_exc()
        label = f"{list(SECTIONS).index(name) + 1} {name}"
        rows = [Row(label, "section failed", None, "", note=f"{type(exc).__name__}: {exc}")]
    return rows, perf_counter() - start, round(foreign.seconds(), 1)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sections, print the table and write the JSON; exit 1 if a section crashed."""
    args = parse_args(argv)
    settings = Settings(quick=args.quick)
    names = args.only or list(SECTIONS)
    rows: list[Row] = []
    seconds: dict[str, float] = {}
    foreign: dict[str, float] = {}  # another busy process on 2 cores skews every figure: keep the evidence
    for name in names:
        section_rows, seconds[name], foreign[name] = run_section(name, settings)
        rows += section_rows
    print(report.table(rows))
    mode = "quick" if args.quick else "full"
    run = {"mode": mode, "sections": names, "section_seconds": seconds, "foreign_cpu_s": foreign}
    report.write_json(args.output, rows, run)
    print(
        f"\n{mode} run of {sum(seconds.values()):.0f} s; CPU-seconds used by other processes meanwhile: ",
        end="",
    )
    print(", ".join(f"{name} {cpu:g} (of {seconds[name]:.0f} s)" for name, cpu in foreign.items()))
    print(f"wrote {args.output}")
    return 1 if any(row.measure == "section failed" for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
