"""``mpmon-analyze compare A B``: two runs side by side per function, and a CI gate.

Wiring only: name the two runs (run ids within ``--logdir``, log directories, or ``--baseline DIR``),
reduce and compare them (:mod:`.compare`), print a table, write the JSON and the HTML page
(:mod:`.compare_page`). Exit codes: 0 done (gate passed), 1 the gate failed (``--fail-if-slower``), 2 a
mistake in what was asked for, said in one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import matplotlib

from mpmon import units
from mpmon.analysis import compare as cmp
from mpmon.analysis import compare_page, compare_stats, load
from mpmon.analysis.compare_page import text_table

__all__ = ["build_parser", "main"]

PROG = "mpmon-analyze compare"
Spec = tuple[Path, str | None]  # a log directory and a run id in it (None: its most recent run)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), as every other mistake here."""

    def error(self, message: str) -> NoReturn:
        print(f"{PROG}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The compare subcommand's flags."""
    parser = _Parser(
        prog=PROG,
        description="Compare two runs per function (B against the baseline A): calls, p50, p95, total and "
        "self time, the ratio of medians with its interval, and whether the change is beyond noise "
        "(Mann-Whitney U test). With --fail-if-slower, exit 1 when a function got slower beyond noise.",
    )
    parser.add_argument(
        "runs",
        nargs="*",
        metavar="RUN",
        help="run A then run B: a run id (or unique prefix) in --logdir, or a log directory (its most "
        "recent run); none: the two most recent runs of --logdir",
    )
    parser.add_argument("--logdir", type=Path, default=Path("logs"), help="where run ids are looked up")
    parser.add_argument(
        "--baseline", type=Path, metavar="DIR", help="run A is the most recent run of DIR; RUN names run B"
    )
    parser.add_argument(
        "--fail-if-slower",
        type=_percent,
        metavar="PCT",
        help="exit 1 if a function's median got slower by more than PCT (e.g. 10%%) and beyond noise",
    )
    parser.add_argument(
        "--function",
        action="append",
        default=[],
        metavar="NAME",
        help="the gate looks only at this function (repeatable)",
    )
    parser.add_argument(
        "--min-change",
        type=_percent,
        metavar="PCT",
        help="smaller changes of the median read 'unchanged' (default: the --fail-if-slower value, else 5%%)",
    )
    parser.add_argument(
        "--alpha",
        type=_probability,
        default=compare_stats.ALPHA,
        help=f"the rank test's significance level (default {compare_stats.ALPHA})",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the comparison as JSON to PATH")
    parser.add_argument(
        "--out", type=Path, help="where the page's folder goes (default: mpmon-report beside run B's logs)"
    )
    parser.add_argument("--no-report", action="store_true", help="write no HTML page (table and JSON only)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the gate's verdict and paths")
    return parser


def _percent(text: str) -> float:
    """``10%`` or ``10`` as 0.10."""
    try:
        value = float(text.strip().removesuffix("%")) / 100
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a percentage: {text!r} (write e.g. 10%)") from None
    if not 0 <= value < 100:
        raise argparse.ArgumentTypeError(f"not a percentage between 0 and 10000: {text!r}")
    return value


def _probability(text: str) -> float:
    """A number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1: {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the subcommand; return 0 (done, gate passed), 1 (gate failed) or 2 (a user error)."""
    matplotlib.use("Agg")
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return _compare(args)
    except load.AnalysisError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{PROG}: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2


def _compare(args: argparse.Namespace) -> int:
    """Load, compare, print, write; the gate decides the exit code."""
    if args.json is not None and not args.json.parent.is_dir():  # said before the slow part, not after
        raise load.AnalysisError(f"--json {args.json}: directory {args.json.parent} does not exist")
    a, b = _load(_specs(args))
    min_change = args.min_change
    if min_change is None:
        min_change = args.fail_if_slower if args.fail_if_slower is not None else cmp.DEFAULT_MIN_CHANGE
    comparison = cmp.compare(a, b, min_change, args.alpha)
    gate = _gate(comparison, args.fail_if_slower, args.function)
    if not args.quiet:
        print(text_table(comparison))
    if args.json is not None:
        data = cmp.comparison_dict(comparison, gate)
        args.json.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
        print(f"json: {args.json}")
    if not args.no_report:
        out = args.out if args.out is not None else b.log_dir.resolve().parent / "mpmon-report"
        page = compare_page.write_comparison(comparison, out, gate)
        print(f"report: {page}")
    if gate is None:
        return 0
    print(gate["verdict"])
    return 1 if gate["failed"] else 0


def _specs(args: argparse.Namespace) -> tuple[Spec, Spec]:
    """Which two runs: (log directory, run id or None) for A and for B."""
    runs: list[str] = args.runs
    if args.baseline is not None:
        if len(runs) > 1:
            raise load.AnalysisError("with --baseline give at most one RUN (run B)")
        return (args.baseline, None), _spec(runs[0], args.logdir) if runs else (args.logdir, None)
    if len(runs) == 2:
        return _spec(runs[0], args.logdir), _spec(runs[1], args.logdir)
    if runs:
        raise load.AnalysisError("give two runs (A then B), or --baseline DIR and at most one run")
    ids = load.list_runs(args.logdir)["run_id"].tolist()
    if len(ids) < 2:
        raise load.AnalysisError(f"{args.logdir} holds {units.plural(len(ids), 'run')}: name two runs")
    return (args.logdir, ids[-2]), (args.logdir, ids[-1])


def _spec(text: str, log_dir: Path) -> Spec:
    """A log directory (its most recent run) if ``text`` names one, else a run id within ``log_dir``."""
    path = Path(text)
    return (path, None) if path.is_dir() else (log_dir, text)


def _load(specs: tuple[Spec, Spec]) -> tuple[cmp.RunDurations, cmp.RunDurations]:
    """Both runs reduced; a directory holding both is read once."""
    (dir_a, id_a), (dir_b, id_b) = specs
    if dir_a.resolve() == dir_b.resolve():
        a, b = cmp.run_durations(dir_a, [id_a, id_b])
        return a, b
    return cmp.run_durations(dir_a, [id_a])[0], cmp.run_durations(dir_b, [id_b])[0]


def _gate(comparison: cmp.Comparison, limit: float | None, functions: list[str]) -> dict[str, Any] | None:
    """The CI gate's outcome (None without --fail-if-slower): which functions failed, in words."""
    if limit is None:
        if functions:
            raise load.AnalysisError("--function names the functions the gate checks: add --fail-if-slower")
        return None
    failed = cmp.slower_than(comparison, limit, functions)
    table = comparison.functions
    scope = f" of {', '.join(functions)}" if functions else ""
    if failed:
        named = "; ".join(
            f"{f} {table.at[f, 'ratio'] - 1:+.0%} (p={table.at[f, 'p_value']:.2g})" for f in failed
        )
        verdict = f"gate: FAILED: slower by more than {limit:.0%} beyond noise: {named}"
    else:
        verdict = f"gate: passed: no function{scope} slower by more than {limit:.0%} beyond noise"
    return {"limit": limit, "functions": list(functions), "failed": failed, "verdict": verdict}
