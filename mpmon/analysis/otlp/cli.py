"""``mpmon-analyze --otlp-endpoint URL``: the export's flags and what the command does with them.

Kept apart from :mod:`mpmon.analysis.cli`, which only adds these flags (:func:`add_arguments`) and hands
over when ``--otlp-endpoint`` is given (:func:`run`). The export replaces the report: the run is selected
with the same flags (``--logdir``, ``--run``, ``--start-time``, ``--end-time``), sent, and summed up in one
line. Exit 0 when every span was accepted, 1 when some were rejected or could not be delivered, 2 for a
mistake in what was asked (no run, a bad URL or header, the server refusing the request: a 4xx).
"""

from __future__ import annotations

import argparse
import sys

from mpmon.analysis import load
from mpmon.analysis.otlp.export import ExportSummary, export_run, open_run

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--otlp-*`` flags, in their own group of the help."""
    group = parser.add_argument_group(
        "OpenTelemetry export", "send the selected run as OTLP/HTTP protobuf instead of writing a report "
        "(needs pip install 'mpmon[otlp]')"
    )  # fmt: skip
    group.add_argument(
        "--otlp-endpoint", metavar="URL", help="the OTLP/HTTP endpoint, e.g. http://localhost:4318 "
        "(/v1/traces is added when the URL has no path)"
    )  # fmt: skip
    group.add_argument(
        "--otlp-header", action="append", default=[], metavar="KEY=VALUE",
        help="an HTTP header for every request (repeatable), e.g. 'Authorization=Bearer TOKEN'",
    )  # fmt: skip
    group.add_argument(
        "--otlp-service-name", metavar="NAME",
        help="service.name of every span (default: $OTEL_SERVICE_NAME, else the script's name, else the "
        "run's tag, else mpmon)",
    )  # fmt: skip
    group.add_argument(
        "--otlp-trace-per-call", action="store_true",
        help="one trace per top-level call instead of one trace for the whole run",
    )  # fmt: skip
    group.add_argument("--otlp-batch-size", type=int, default=1000, metavar="N", help="spans per request")
    group.add_argument(
        "--otlp-timeout", type=float, default=10.0, metavar="SECONDS", help="timeout of each request"
    )
    group.add_argument("--otlp-no-gzip", action="store_true", help="send requests uncompressed")


def run(args: argparse.Namespace, prog: str) -> int:
    """Export the run the flags select; print the account; return the exit code."""
    headers = _headers(args.otlp_header)
    selected = open_run(args.logdir, args.run_id, args.start_time, args.end_time)
    try:
        summary = _export(args, selected, headers, prog)
    finally:
        if selected.source is not None:
            selected.source.close()
    for name, count in selected.skipped.items():
        if count:
            print(f"{prog}: note: skipped {count} line(s) of {name} that did not parse", file=sys.stderr)
    print(f"run {', '.join(selected.run_ids)} ({selected.selection}): {summary.line()}")
    return 0 if summary.ok else 1


def _export(
    args: argparse.Namespace, selected: load.Run, headers: dict[str, str], prog: str
) -> ExportSummary:
    """The export the flags ask for, of the selected run."""
    return export_run(
        selected,
        args.otlp_endpoint,
        service_name=args.otlp_service_name,
        headers=headers,
        trace_per_call=args.otlp_trace_per_call,
        batch_size=args.otlp_batch_size,
        timeout=args.otlp_timeout,
        compression=None if args.otlp_no_gzip else "gzip",
        progress=sys.stderr.isatty(),
        say=lambda line: print(f"{prog}: {line}", file=sys.stderr, flush=True),
    )


def _headers(pairs: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` flags as headers; a malformed one is a usage error."""
    headers: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or any(c in pair for c in "\r\n"):
            raise load.AnalysisError(f"--otlp-header must be KEY=VALUE on one line, not {pair!r}")
        headers[key.strip()] = value.strip()
    return headers
