"""``mpmon-analyze``: figures and tables for one run of an mpmon log directory.

Wiring only: parse the arguments, load and select the run (:mod:`.load`), summarise it (:mod:`.stats`),
write the outputs (:mod:`.report`) and, with ``--trace``, a Chrome trace too (:mod:`.trace`), then print
a short summary table and where the outputs went. On a terminal a progress bar (tqdm, on stderr) follows
the steps; it stays silent when stderr is not a terminal or with ``--quiet``. A mistake in what was asked
for (no logs, unknown run, empty window, unreadable time) prints one line on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

from mpmon import units
from mpmon.analysis import figures, load, report, safe_files, scanned, stats, trace_stream
from mpmon.analysis.otlp import cli as otlp_cli
from mpmon.units import format_duration

__all__ = ["build_parser", "main"]

PROG = "mpmon-analyze"
TRACEBACK_VARIABLE = "MPMON_ANALYZE_TRACEBACK"
"""Set (to anything) to see the traceback of a run that cannot be analysed, instead of one line."""
TOP_FUNCTIONS = 5
ALL_COLUMNS_BYTES = 256 * 2**20
LIST_RUNS_NOTE = (
    "duration: from the collector's start to its stop where the logs have both (run_start, run_summary),\n"
    "else from the first call's start to the last call's end; the report's 'span' counts the calls only."
)


def build_parser() -> argparse.ArgumentParser:
    """The command line: the original tool's flags plus --out, --run, --list-runs and --trace."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Figures and tables for one run of an mpmon log directory.",
        epilog="Two runs side by side, with a CI gate: mpmon-analyze compare RUN_A RUN_B (see its --help).",
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
    parser.add_argument(
        "--trace-calls-per-file",
        type=_positive,
        default=trace_stream.CALLS_PER_FILE,
        metavar="N",
        help="a run of more calls is traced as several files PATH-stem.0001.json, ... of at most N calls "
        f"each, one stretch of time each (default: {trace_stream.CALLS_PER_FILE:,})",
    )
    parser.add_argument(
        "--export-rows",
        action="store_true",
        help="also write the selected rows as rows.parquet in the report folder (not written by default)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar, and print only where the report went"
    )
    otlp_cli.add_arguments(parser)  # --otlp-endpoint and its options (mpmon.analysis.otlp.cli)
    return parser


def _positive(text: str) -> int:
    """A positive integer flag (argparse says what is wrong with another)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 done, 2 a user error)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["compare"]:  # the subcommand; every other command line is the report's, as before
        from mpmon.analysis import compare_cli  # only the subcommand needs it

        return compare_cli.main(argv[1:])
    matplotlib.use("Agg")  # this process only writes files: never look for a display
    _say_skipped_files()
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
    except Exception as exc:  # a run that cannot be analysed: one line, never a traceback
        if os.environ.get(TRACEBACK_VARIABLE):
            raise
        reason = (str(exc).strip().splitlines() or [""])[0][:300]
        print(f"{PROG}: error: cannot analyse {args.logdir}: {type(exc).__name__}: {reason}", file=sys.stderr)
        print(f"{PROG}: (set {TRACEBACK_VARIABLE}=1 to see where)", file=sys.stderr)
        return 2


def _say_skipped_files() -> None:
    """Files the analysis does not read (safe_files, readers) are said on stderr, one line each."""
    logger = safe_files.LOG
    if not any(isinstance(h, _Stderr) for h in logger.handlers):
        logger.addHandler(_Stderr())
        logger.propagate = False


class _Stderr(logging.Handler):
    """`mpmon-analyze: <message>` on the sys.stderr of the moment."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"{PROG}: {record.getMessage()}", file=sys.stderr)


def _analyze(args: argparse.Namespace) -> int:
    """Select the run, write its trace (first: a bad path fails before the slow part) and its report
    folder, print a short account."""
    steps = 5 + len(figures.FIGURES) + (1 if args.trace is not None else 0) + (1 if args.export_rows else 0)
    with _progress(steps, quiet=args.quiet) as step:
        step("reading logs")
        run = scanned.open_run(args.logdir, args.run_id, args.start_time, args.end_time)
        step("selecting the run")
        if run is None:  # the original module's logs: loaded (they are small)
            data = load.read_log_dir(args.logdir, _columns(args.logdir))
            run = load.select_run(data, args.run_id, args.start_time, args.end_time)
            del data
        try:
            summary, written, traced = _write(args, run, step)
        finally:
            if run.source is not None:
                run.source.close()
    if not args.quiet:
        for name, count in run.skipped.items():
            skipped = units.plural(count, "line")
            print(f"{PROG}: note: skipped {skipped} of {name} that did not parse", file=sys.stderr)
        print(_summary_table(run, summary, written))
        print()
        print(_top_table(summary.functions.head(TOP_FUNCTIONS)))
        print()
        if traced:
            print(_traced(traced, args.trace_calls_per_file))
    print(f"report: {written.folder / report.REPORT_HTML}")
    return 0


def _traced(paths: list[Path], calls_per_file: int) -> str:
    """Where the trace went: one file, or how many parts and which."""
    if len(paths) == 1:
        return f"trace: {paths[0]}"
    return (
        f"trace: {len(paths)} files of at most {calls_per_file:,} calls each (one stretch of time each: one "
        f"file would be too big to open), {paths[0]} to {paths[-1].name}"
    )


def _write(
    args: argparse.Namespace, run: load.Run, step: report.Progress
) -> tuple[stats.Summary, report.Report, list[Path]]:
    """Aggregate the run, write its trace (first: a bad path fails before the slow part) and its
    report folder."""
    step("aggregating")
    summary = scanned.summarize_run(run, background=True)  # figure data on a thread, drawn meanwhile
    out = args.out if args.out is not None else args.logdir.resolve().parent / "mpmon-report"
    tag = args.tag or (run.tag.split(", ")[0] if run.tag else "run")
    traced = []
    if args.trace is not None:
        step("trace")
        traced = trace_stream.write_run_trace(run, args.trace, args.trace_calls_per_file)
    written = report.write_report(
        run,
        report.output_folder(out, tag),
        subtitle=args.subtitle,
        summary=summary,
        export=args.export_rows,
        progress=step,
    )
    return summary, written, traced


def _columns(log_dir: Path) -> tuple[str, ...] | None:
    """Every column (the slowest calls' arguments included) for log directories under ALL_COLUMNS_BYTES;
    beyond, only the analysis columns (not args and message), so ten million rows fit in memory."""
    size = sum(f.stat().st_size for f in log_dir.rglob("*") if f.is_file()) if log_dir.is_dir() else 0
    return None if size < ALL_COLUMNS_BYTES else tuple(load.ANALYSIS_COLUMNS)


@contextmanager
def _progress(total: int, quiet: bool) -> Iterator[report.Progress]:
    """A progress bar on stderr advanced by each step's name; silent when quiet or not on a terminal."""
    bar = tqdm(
        total=total,
        desc=PROG,
        unit="step",
        file=sys.stderr,
        leave=False,
        disable=quiet or not sys.stderr.isatty(),
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} {postfix}",
    )
    started = False

    def step(name: str) -> None:
        nonlocal started
        if started:
            bar.update(1)
        started = True
        bar.set_postfix_str(name)

    try:
        yield step
        bar.update(1)
    finally:
        bar.close()


def _summary_table(run: load.Run, summary: stats.Summary, written: report.Report) -> str:
    """The run in a few lines: which run, its totals, and the report folder's size."""
    totals = summary.run
    efficiency = totals["parallel_efficiency"]
    working = totals.get("workload_processes") or 0
    size = sum(p.stat().st_size for p in written.files)
    rows = [
        ["run", f"{', '.join(run.run_ids)} ({run.selection}{f', tag {run.tag}' if run.tag else ''})"],
        [
            "calls",
            f"{units.plural(totals['calls'], 'call')} of {units.plural(totals['functions'], 'function')}",
        ],
        ["processes", units.plural(totals["processes"], "process")],
        ["span", format_duration(totals["wall_span_s"])],
        [
            "parallel efficiency",
            f"{efficiency:.0%} over the {units.plural(working, 'process')} that ran the workload"
            if efficiency is not None
            else "n/a",
        ],
        ["errors", units.plural(len(run.errors), "error")],
        ["report folder", f"{units.plural(len(written.files), 'file')}, {units.format_memory(size / 2**20)}"],
    ]
    return _text_table(rows, left=1, header=False)


def _top_table(functions: pd.DataFrame) -> str:
    """The top functions by total time as a text table."""
    rows = [["function", "calls", "total", "mean", "p95", "max", "errors"]]
    for name, r in functions.iterrows():
        durations = [format_duration(v) for v in (r.total_s, r.mean_s, r.p95_s, r.max_s)]
        rows.append([str(name), units.count(r.calls), *durations, units.count(r.errors)])
    return _text_table(rows, left=1)


def _list_runs(log_dir: Path) -> int:
    """Print the runs of a log directory, oldest first."""
    runs = scanned.list_runs(log_dir)
    if runs is None:  # the original module's logs
        runs = load.list_runs(log_dir)
    rows = [["run_id", "tag", "start (UTC)", "duration*", "calls", "processes", "errors"]]
    for r in runs.itertuples():
        start = f"{r.start:%Y-%m-%d %H:%M:%S}" if r.start is not pd.NaT else ""
        duration = format_duration(r.duration_s) if r.duration_s == r.duration_s else ""
        rows.append([r.run_id, r.tag, start, duration, f"{r.calls:,}", str(r.processes), f"{r.errors:,}"])
    print(_text_table(rows, left=2))
    print("\n* " + LIST_RUNS_NOTE.replace("\n", "\n  "))
    return 0


def _text_table(rows: list[list[str]], left: int, header: bool = True) -> str:
    """Columns padded to width: the first ``left`` columns left-aligned, the rest right-aligned (all
    left-aligned when the table has no header row)."""
    left = left if header else len(rows[0])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
