"""Export one run of a log directory to an OTLP/HTTP endpoint: select, translate, send, account.

The run is picked exactly as ``mpmon-analyze`` picks it (:func:`mpmon.analysis.scanned.open_run`, else
the loading path for the original module's logs); its rows, read in sorted batches where they lie
(:mod:`mpmon.analysis.batches`), become requests (:mod:`.stream`, :mod:`.translate`) that one
:class:`~.exporter.OtlpHttpExporter` sends in order from its own thread, while the next batches are
encoded (compression, sockets and Arrow all release the GIL). A batch that still fails after its retries stops
the export (the backend is down: the next batches would wait just as long); the summary says how many
spans were sent, rejected and left unsent.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from mpmon.analysis import load, scanned
from mpmon.analysis.batches import column_list, row_batches
from mpmon.analysis.otlp import resource, stream, translate
from mpmon.analysis.otlp.exporter import ExportResult, OtlpHttpExporter, OtlpRejected, Outcome
from mpmon.units import plural

__all__ = ["ExportSummary", "OtlpError", "export_otlp", "export_run"]

INSTALL_HINT = "pip install 'mpmon[otlp]'"
IN_FLIGHT = 3  # batches encoded ahead of the sender: bounds memory, keeps both threads busy
PROGRESS_EVERY = 5.0  # seconds between two progress lines (without a bar)


class OtlpError(load.AnalysisError):
    """The export cannot be done as asked: the extra is missing, a bad URL, or the server refused it."""


@dataclass
class ExportSummary:
    """What an export did: spans made from the rows, sent (delivered), rejected by the server, unsent."""

    endpoint: str
    run_ids: tuple[str, ...]
    rows: int = 0
    spans: int = 0
    sent: int = 0
    rejected: int = 0
    requests: int = 0
    retries: int = 0
    failure: str = ""  # why the export stopped early, when it did
    messages: list[str] = field(default_factory=list)  # partial_success messages from the server

    @property
    def unsent(self) -> int:
        return self.spans - self.sent

    @property
    def ok(self) -> bool:
        """Every span delivered and accepted."""
        return not self.failure and self.rejected == 0 and self.sent == self.spans

    def line(self) -> str:
        """The account in one line."""
        text = (
            f"sent {self.sent - self.rejected:,} of {plural(self.spans, 'span')} to {self.endpoint} "
            f"in {plural(self.requests, 'request')} ({plural(self.retries, 'retry', 'retries')})"
        )
        if self.rejected:
            text += f"; the server rejected {self.rejected:,}"
            text += f": {self.messages[0]}" if self.messages else ""
        if self.failure:
            text += f"; stopped, {self.unsent:,} not sent: {self.failure}"
        return text


def export_otlp(
    log_dir: str | Path,
    endpoint: str,
    *,
    run_id: str | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    **options: Any,
) -> ExportSummary:
    """Export a run of ``log_dir`` (the most recent, or ``run_id``, or the calls in [start, end]) as OTLP.

    ``options`` are those of :func:`export_run`. Raises :class:`OtlpError` (an :class:`AnalysisError`)
    when the export cannot start or the server refuses it (a 4xx).
    """
    run = open_run(log_dir, run_id, start, end)
    try:
        return export_run(run, endpoint, **options)
    finally:
        if run.source is not None:
            run.source.close()


def open_run(
    log_dir: str | Path,
    run_id: str | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> load.Run:
    """The selected run, scanned (its rows stay in the files; close ``run.source`` after), or loaded for
    the original module's logs."""
    run = scanned.open_run(log_dir, run_id, start, end)
    return run if run is not None else load.select_run(load.read_log_dir(log_dir), run_id, start, end)


def export_run(
    run: load.Run,
    endpoint: str,
    *,
    service_name: str | None = None,
    headers: Mapping[str, str] | None = None,
    trace_per_call: bool = False,
    batch_size: int = 1000,
    timeout: float = 10.0,
    compression: str | None = "gzip",
    max_retries: int = 6,
    progress: bool = False,
    say: Callable[[str], Any] | None = None,
) -> ExportSummary:
    """Send the calls of a selected :class:`~mpmon.analysis.load.Run` to ``endpoint``.

    ``service_name`` defaults to ``$OTEL_SERVICE_NAME``, else the name of the script that started each
    host's collector (its ``run_start`` line), else (logs of an older mpmon) the run's tag, else ``"mpmon"``.
    ``trace_per_call`` makes one trace per top-level call instead of one per run.
    ``progress`` draws a bar (on a terminal); ``say``, when given, is told in a line what the export
    does while it runs: its start, each failed attempt at once (with the retries left), and, without a
    bar, how far it got every few seconds.
    """
    if not timeout > 0:
        raise OtlpError(f"the request timeout must be a positive number of seconds, not {timeout!r}")
    exporter = _exporter(endpoint, headers, timeout, compression, max_retries, _retry_teller(endpoint, say))
    named = service_name or os.environ.get("OTEL_SERVICE_NAME")
    options = translate.Options(
        service_name=named or _tag(run) or "mpmon",
        programs=resource.programs(run.events, name_service=not named),
        trace_per_call=trace_per_call,
        batch_size=_positive(batch_size, "batch_size"),
        default_run_id=run.run_ids[0] if run.run_ids else "",
    )
    errors = translate.error_details(run.error_lines)
    rows, spans, batches = _requests(run, errors, options)
    summary = ExportSummary(exporter.url.geturl(), run.run_ids, rows=rows, spans=spans)
    bar = _progress_bar(summary.spans) if progress else (_ProgressLines(summary.spans, say) if say else None)
    if say is not None:
        say(f"exporting {spans:,} spans of run {', '.join(run.run_ids)} to {summary.endpoint}")
    try:
        with exporter, ThreadPoolExecutor(1, thread_name_prefix="mpmon-otlp") as sending:
            _pipeline(batches, exporter, sending, summary, bar)
    finally:
        if bar is not None:
            bar.close()
    return summary


_BOTH_TIMES = "start_time IS NOT NULL AND end_time IS NOT NULL"


def _requests(
    run: load.Run, errors: Mapping[str, translate.ErrorDetail], options: translate.Options
) -> tuple[int, int, Iterator[translate.Batch]]:
    """The run's row count, span count and requests: streamed from a scanned run (a chunk at a time),
    made from the rows of a loaded one or with one trace per
    top-level call (which needs every row's root)."""
    if run.source is None:
        calls = run.calls
        return len(calls), translate.span_count(calls), translate.requests(calls, errors, options)
    view = scanned.RUN_VIEW
    counted = run.source.sql(f"SELECT count(*), count(*) FILTER (WHERE {_BOTH_TIMES}) FROM {view}")
    rows, spans = counted.fetchall()[0]
    if options.trace_per_call:
        calls = run.source.sql(f"SELECT {column_list(translate.COLUMNS)} FROM {view}").df()
        for name in ("start_time", "end_time"):
            calls[name] = calls[name].astype("datetime64[us, UTC]")
        return rows, spans, translate.requests(calls, errors, options)
    columns = [c for c in translate.COLUMNS if c not in ("start_time", "end_time")] + ["start_us", "end_us"]
    batches = row_batches(run, columns, where=_BOTH_TIMES)
    return int(rows), int(spans), stream.stream_requests(batches, errors, options)


def _pipeline(
    batches: Iterator[translate.Batch],
    exporter: OtlpHttpExporter,
    sending: ThreadPoolExecutor,
    summary: ExportSummary,
    bar: Any,
) -> None:
    """Encode the next batches while one thread compresses and sends the earlier ones, in order.

    At most :data:`IN_FLIGHT` batches wait; the first failure or refusal stops the rest.
    """
    pending: deque[tuple[translate.Batch, Future[Outcome]]] = deque()
    send = _one_failure_stops(exporter)
    try:
        for batch in batches:
            pending.append((batch, sending.submit(send, batch.body)))
            if len(pending) >= IN_FLIGHT and not _settle(*pending.popleft(), summary, bar):
                return
        while pending:
            if not _settle(*pending.popleft(), summary, bar):
                return
    finally:
        exporter.abort()  # a batch still retrying gives up now
        for _, future in pending:
            future.cancel()


def _one_failure_stops(exporter: OtlpHttpExporter) -> Callable[[bytes], Outcome]:
    """``exporter.export`` that, after a failed or refused batch, sends nothing more: the batches queued
    behind it are not sent, so the summary's count of what was delivered stays exact."""
    stopped = threading.Event()

    def send(body: bytes) -> Outcome:
        if stopped.is_set():
            return Outcome(ExportResult.FAILURE, message="not sent: an earlier batch failed")
        try:
            outcome = exporter.export(body)
        except OtlpRejected:
            stopped.set()
            raise
        if outcome.result is ExportResult.FAILURE:
            stopped.set()
        return outcome

    return send


def _settle(batch: translate.Batch, future: Future[Outcome], summary: ExportSummary, bar: Any) -> bool:
    """One batch's outcome into the summary; whether to go on. A refusal raises :class:`OtlpError`."""
    try:
        outcome = future.result()
    except OtlpRejected as exc:
        raise OtlpError(
            f"{summary.endpoint} refused the export: {exc} ({summary.sent:,} spans were sent before)"
        ) from exc
    summary.requests += 1
    summary.retries += outcome.retries
    if outcome.result is ExportResult.FAILURE:
        summary.failure = outcome.message
        return False
    summary.sent += batch.spans
    summary.rejected += outcome.rejected
    if outcome.message and outcome.message not in summary.messages:
        summary.messages.append(outcome.message)
    if bar is not None:
        bar.update(batch.spans)
    return True


def _exporter(
    endpoint: str,
    headers: Mapping[str, str] | None,
    timeout: float,
    compression: str | None,
    retries: int,
    on_retry: Callable[[str, float, int], Any] | None,
) -> OtlpHttpExporter:
    """The exporter, or :class:`OtlpError` when opentelemetry-proto is missing or the URL is wrong."""
    try:
        return OtlpHttpExporter(
            endpoint,
            headers=headers,
            timeout=timeout,
            compression=compression,
            max_retries=retries,
            on_retry=on_retry,
        )
    except ImportError as exc:
        raise OtlpError(f"OTLP export needs the opentelemetry-proto package: {INSTALL_HINT}") from exc
    except ValueError as exc:
        raise OtlpError(str(exc)) from exc


def _tag(run: load.Run) -> str:
    """The run's first tag, the default service name."""
    return run.tag.split(", ")[0] if run.tag else ""


def _positive(value: int, name: str) -> int:
    if not isinstance(value, int) or value < 1:
        raise OtlpError(f"{name} must be a positive integer, not {value!r}")
    return value


def _retry_teller(endpoint: str, say: Callable[[str], Any] | None) -> Callable[[str, float, int], Any] | None:
    """What tells `say` of a failed attempt, at once: the refusal, the wait, the retries left."""
    if say is None:
        return None

    def tell(why: str, wait: float, left: int) -> None:
        say(f"{endpoint} did not take a batch ({why}); retrying in {wait:.1f} s, {left} retries left")

    return tell


class _ProgressLines:
    """Progress as a line every PROGRESS_EVERY seconds (where no bar can be drawn: a log, a pipe)."""

    def __init__(self, total: int, say: Callable[[str], Any]) -> None:
        self.total, self.say, self.done = total, say, 0
        self.next_line = time.monotonic() + PROGRESS_EVERY

    def update(self, spans: int) -> None:
        self.done += spans
        if time.monotonic() >= self.next_line and self.done < self.total:
            self.next_line = time.monotonic() + PROGRESS_EVERY
            self.say(f"{self.done:,} of {self.total:,} spans sent")

    def close(self) -> None:
        pass


def _progress_bar(total: int) -> Any:
    """A progress bar on stderr, in spans."""
    from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

    return tqdm(total=total, unit="span", unit_scale=True, desc="OTLP export", leave=False)
