"""``mpmon-analyze``: figures and tables for one run of an mpmon log directory.

Wiring only: parse the arguments, load and select the run (:mod:`.load`), summarise it (:mod:`.stats`),
write the outputs (:mod:`.report`) and, with ``--trace``, a Chrome trace too (:mod:`.trace`), then print
where they went with the top functions. A mistake in what was asked for (no logs, unknown run, empty
window, unreadable time) prints one line on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from mpmon.analysis import load, report, stats, trace
from mpmon.analysis.otlp import cli as otlp_cli
from mpmon.analysis.plots import format_duration

__all__ = ["build_parser", "main"]

PROG = "mpmon-analyze"
TOP_FUNCTIONS = 10


def build_parser() -> argparse.ArgumentParser:
    """The command line: the original tool's flags plus --out, --run, --list-runs and --trace."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Figures and tables for one run of an mpmon log directory."
    )
    parser.add_argument(
        "--logdir", type=Path, default=Path("logs"), help="the log directory (default: ./logs)"
    )
    parser.add_argument(
        "--out", type=Path, help="where report folders go (default: mpmon-report beside the log dir)"
    )
    parser.add_argument(
        "--run", dest="run_id", metavar="RUN_ID", help="the run to analyse (default: the most recent)"
    )
    parser.add_argument(
        "--list-runs", action="store_true", help="list the runs in the log directory and exit"
    )
    parser.add_argument(
        "--start-time", help="only calls active after this time ('2025-01-01 12:00:00' is UTC)"
    )
    parser.add_argument("--end-time", help="only calls active before this time (or ISO 8601 with an offset)")
    parser.add_argument("--subtitle", default="", help="a line shown under every figure title")
    parser.add_argument(
        "--tag", help="names the output folder <tag>_<time> (default: the run's tag, else 'run')"
    )
    parser.add_argument(
        "--trace",
        type=Path,
        metavar="PATH",
        help="also write the run's calls to PATH as a Chrome trace (JSON) for https://ui.perfetto.dev or "
        "chrome://tracing; the report folder is written as usual",
    )
    otlp_cli.add_arguments(parser)  # --otlp-endpoint and its options (mpmon.analysis.otlp.cli)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 done, 2 a user error)."""
    matplotlib.use("Agg")  # this process only writes files: never look for a display
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed by argparse
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if args.otlp_endpoint and not args.list_runs:
            return otlp_cli.run(args, PROG)
        return _list_runs(args.logdir) if args.list_runs else _analyze(args)
    except load.AnalysisError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{PROG}: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2


def _analyze(args: argparse.Namespace) -> int:
    """Select the run, write its trace (first: a bad path fails before the slow part) and its report
    folder, print a short account."""
    data = load.read_log_dir(args.logdir, load.ANALYSIS_COLUMNS)  # not args/message: 10M rows fit
    run = load.select_run(data, args.run_id, args.start_time, args.end_time)
    summary = stats.summarize(run.calls)
    out = args.out if args.out is not None else args.logdir.resolve().parent / "mpmon-report"
    tag = args.tag or (run.tag.split(", ")[0] if run.tag else "run")
    traced = trace.to_chrome_trace(run.calls, args.trace) if args.trace is not None else None
    written = report.write_report(
        run, report.output_folder(out, tag), subtitle=args.subtitle, summary=summary
    )
    for name, count in run.skipped.items():
        print(f"{PROG}: note: skipped {count} line(s) of {name} that did not parse", file=sys.stderr)
    print(_headline(run, summary))
    print(_top_table(summary.functions.head(TOP_FUNCTIONS)))
    print(f"wrote {len(written.files)} files to {written.folder}")
    print(f"report: {written.folder / report.REPORT_HTML}")
    if traced is not None:
        print(f"trace: {traced}")
    return 0


def _headline(run: load.Run, summary: stats.Summary) -> str:
    """One line about the run: which, why, and its totals."""
    totals = summary.run
    tag = f", tag {run.tag}" if run.tag else ""
    efficiency = totals["parallel_efficiency"]
    spread = f", parallel efficiency {efficiency:.0%}" if efficiency is not None else ""
    return (
        f"run {', '.join(run.run_ids)} ({run.selection}{tag}): {totals['calls']:,} calls, "
        f"{totals['functions']} functions, {totals['processes']} processes, "
        f"span {format_duration(totals['wall_span_s'])}{spread}, {len(run.errors):,} errors"
    )


def _top_table(functions: pd.DataFrame) -> str:
    """The top functions by total time as a text table."""
    rows = [["function", "calls", "total", "mean", "p95", "max", "errors"]]
    for name, r in functions.iterrows():
        durations = [format_duration(v) for v in (r.total_s, r.mean_s, r.p95_s, r.max_s)]
        rows.append([str(name), f"{r.calls:,}", *durations, f"{r.errors:,}"])
    return _text_table(rows, left=1)


def _list_runs(log_dir: Path) -> int:
    """Print the runs of a log directory, oldest first."""
    runs = load.list_runs(log_dir)
    rows = [["run_id", "tag", "start (UTC)", "duration", "calls", "processes", "errors"]]
    for r in runs.itertuples():
        start = f"{r.start:%Y-%m-%d %H:%M:%S}" if r.start is not pd.NaT else ""
        duration = format_duration(r.duration_s) if r.duration_s == r.duration_s else ""
        rows.append([r.run_id, r.tag, start, duration, f"{r.calls:,}", str(r.processes), f"{r.errors:,}"])
    print(_text_table(rows, left=2))
    return 0


def _text_table(rows: list[list[str]], left: int) -> str:
    """Columns padded to width: the first ``left`` columns left-aligned, the rest right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
