"""OTLP export end to end: a real Pool run, ``mpmon-analyze --otlp-endpoint`` as a subprocess, and a real
HTTP receiver on 127.0.0.1 that decodes every request with the official opentelemetry-proto classes; the
official SDK exporter cross-checks ids and links; scripted answers check retries, refusals and
partial success."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import os
import platform
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import ROOT, analyze, run_python

from mpmon.analysis import load

pytest.importorskip("opentelemetry.proto")
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as pb

from mpmon.analysis.otlp import exporter as ex

PROGRAM = """
import multiprocessing
import sys

import mpmon


@mpmon.Timer(log_to_console=False)
def leaf(x):
    return x * 2


@mpmon.ErrorCatcher(log_to_console=False)
@mpmon.Timer(log_to_console=False)
def work(x):
    if x % 4 == 3:
        raise ValueError(f"bad {x}")
    started = mpmon.get_metrics_start("hooked")
    leaf(x)
    mpmon.get_metrics_end(started)
    return x


def task(x):
    try:
        return work(x)
    except ValueError:
        return None


if __name__ == "__main__":
    mpmon.start_collector(sys.argv[1], log_to_console=False, tag="otlp-test")
    with multiprocessing.Pool(2) as pool:
        pool.map(task, range(12), chunksize=1)
    mpmon.stop_collector()
"""
ROWS = 12 + 9 + 9  # work, hooked, leaf
ERRORS = 3
SCRIPT = "otlp_nightly_job"  # PROGRAM's file name: the default service.name of its spans


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class Receiver:
    """An OTLP/HTTP endpoint on a free local port: decodes each request, answers from a script (then 200)."""

    def __init__(self) -> None:
        self.accepted: list[pb.ExportTraceServiceRequest] = []
        self.refused: list[pb.ExportTraceServiceRequest] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.script: list[Answer] = []
        self.drop_idle = False
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = pb.ExportTraceServiceRequest.FromString(body)
                receiver.headers.append(dict(self.headers))
                receiver.paths.append(self.path)
                answer = receiver.script.pop(0) if receiver.script else Answer(200)
                (receiver.accepted if answer.status == 200 else receiver.refused).append(request)
                payload = answer.body or (pb.ExportTraceServiceResponse().SerializeToString())
                self.send_response(answer.status)
                for key, value in {"Content-Type": "application/x-protobuf", **answer.headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                self.close_connection = receiver.drop_idle  # closes without saying so

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """Every accepted span with its resource's attributes."""
        return [
            (attributes(rs.resource.attributes), span)
            for request in self.accepted
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in kvs}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(scope="module")
def pool_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The log directory of one real run of PROGRAM: a Pool(2), nested calls, hooks, caught errors."""
    base = tmp_path_factory.mktemp("otlp")
    (base / f"{SCRIPT}.py").write_text(PROGRAM)
    run_python([f"{SCRIPT}.py", "logs"], base, timeout=120)
    return base / "logs"


def run_start(log_dir: Path) -> dict[str, Any]:
    """The run_start line of a log directory's single run."""
    lines = [json.loads(line) for line in (log_dir / "timing.log").read_text().splitlines()]
    (start,) = [e for e in lines if e.get("event") == "run_start"]
    return start


def span_key(span: Any) -> tuple[bytes, bytes, bytes]:
    return span.trace_id, span.span_id, span.parent_span_id


@pytest.fixture(scope="module")
def synthetic_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small run written in the collector's formats (no process started): for the quick tests."""
    from . import logfactory as lf

    log_dir = tmp_path_factory.mktemp("otlp-synthetic") / "logs"
    lf.write_run(log_dir, lf.make_run("20261125T180000Z-cccccc", workers=2, tasks=5))
    return log_dir


@pytest.mark.slow
class TestRealRun:
    def test_every_row_arrives_linked_with_its_process_and_errors(
        self, pool_run: Path, receiver: Receiver
    ) -> None:
        """span count == rows, every parent resolved, one resource per process, errors with exceptions."""
        calls = load.load_run(pool_run)
        assert len(calls) == ROWS
        flags = ["--otlp-endpoint", receiver.url, "--otlp-header", "X-Token=s3"]
        done = analyze("--logdir", str(pool_run), *flags)
        assert done.returncode == 0, done.stderr
        assert f"sent {ROWS} of {ROWS} spans" in done.stdout
        assert receiver.paths[0] == "/v1/traces"
        assert receiver.headers[0]["X-Token"] == "s3"
        assert receiver.headers[0]["Content-Encoding"] == "gzip"
        spans = receiver.spans()
        assert len(spans) == ROWS
        ids = {s.span_id for _, s in spans}
        assert len(ids) == ROWS
        nested = [s for _, s in spans if s.parent_span_id]
        assert len(nested) == (calls["parent_id"] != "").sum() > 0
        assert all(s.parent_span_id in ids for s in nested)
        assert len({s.trace_id for _, s in spans}) == 1
        resources = [attributes(rs.resource.attributes) for r in receiver.accepted for rs in r.resource_spans]
        assert sorted((r["host.name"], r["process.pid"]) for r in resources) == sorted(
            set(zip(calls["host"], calls["pid"], strict=True))
        )
        assert {r["service.name"] for r in resources} == {SCRIPT}
        for resource, span in spans:
            pid = calls.loc[calls["function"] == span.name, "pid"]
            assert resource["process.pid"] in set(pid)
        assert {attributes(s.attributes)["mpmon.source"] for _, s in spans} == {"timer", "hook"}
        failed = [s for _, s in spans if s.status.code == s.status.STATUS_CODE_ERROR]
        assert len(failed) == ERRORS
        for span in failed:
            (event,) = span.events
            exc = attributes(event.attributes)
            assert event.name == "exception"
            assert exc["exception.type"] == "ValueError"
            assert exc["exception.message"].startswith("bad ")
            assert exc["exception.stacktrace"].startswith("Traceback")
            assert f"ValueError: {exc['exception.message']}" in exc["exception.stacktrace"]

    def test_two_exports_give_identical_ids(self, pool_run: Path, receiver: Receiver) -> None:
        """Ids are derived from run_id and call_id: a second export repeats them exactly."""
        for _ in range(2):
            assert analyze("--logdir", str(pool_run), "--otlp-endpoint", receiver.url).returncode == 0
        first = sorted(span_key(s) for _, s in receiver.spans()[:ROWS])
        second = sorted(span_key(s) for _, s in receiver.spans()[ROWS:])
        assert len(first) == ROWS and first == second

    def test_one_trace_per_top_level_call(self, pool_run: Path, receiver: Receiver) -> None:
        """--otlp-trace-per-call: one trace per top-level call, every child in its parent's trace."""
        calls = load.load_run(pool_run)
        done = analyze("--logdir", str(pool_run), "--otlp-endpoint", receiver.url, "--otlp-trace-per-call")
        assert done.returncode == 0, done.stderr
        spans = {s.span_id: s for _, s in receiver.spans()}
        assert len(spans) == ROWS
        assert len({s.trace_id for s in spans.values()}) == (calls["parent_id"] == "").sum()
        nested = [s for s in spans.values() if s.parent_span_id]
        assert nested and all(spans[s.parent_span_id].trace_id == s.trace_id for s in nested)

    def test_the_official_sdk_exporter_agrees(self, pool_run: Path, receiver: Receiver) -> None:
        """The same rows as SDK spans, sent by opentelemetry-exporter-otlp-proto-http to the same receiver,
        arrive with the same ids, parent links, names, times, resources and attributes."""
        from mpmon.analysis import export_otlp

        assert export_otlp(pool_run, receiver.url).ok
        ours = {s.span_id: (r, s) for r, s in receiver.spans()}
        receiver.accepted.clear()
        sdk_export(load.select_run(load.read_log_dir(pool_run)), receiver.url + "/v1/traces")
        theirs = {s.span_id: (r, s) for r, s in receiver.spans()}
        assert theirs.keys() == ours.keys() and len(theirs) == ROWS
        for span_id, (resource, span) in theirs.items():
            our_resource, our_span = ours[span_id]
            assert span_key(our_span) == span_key(span)
            assert (our_span.name, our_span.kind) == (span.name, span.kind)
            assert our_span.start_time_unix_nano == span.start_time_unix_nano
            assert our_span.end_time_unix_nano == span.end_time_unix_nano
            assert our_span.status.code == span.status.code
            assert attributes(our_span.attributes) == attributes(span.attributes)
            for key in ("service.name", "host.name", "process.pid", "mpmon.run_id"):
                assert our_resource[key] == resource[key]


@pytest.mark.slow
class TestProgram:
    """Each resource says what program the run was: service.name defaults to the script's name (from the
    run_start line), process.runtime.* is the Python that ran it; a name the user gives wins."""

    def test_resources_name_the_script_and_its_python(self, pool_run: Path, receiver: Receiver) -> None:
        done = analyze("--logdir", str(pool_run), "--otlp-endpoint", receiver.url)
        assert done.returncode == 0, done.stderr
        resources = [attributes(rs.resource.attributes) for r in receiver.accepted for rs in r.resource_spans]
        assert len({r["process.pid"] for r in resources}) >= 2  # the pool's workers (and the main process)
        for resource in resources:
            assert resource["service.name"] == SCRIPT
            assert resource["process.runtime.name"] == sys.implementation.name
            assert resource["process.runtime.version"] == platform.python_version()
            assert resource["process.runtime.description"] == sys.version
            assert resource["process.executable.name"] == os.path.basename(sys.executable)
            assert resource["mpmon.tag"] == "otlp-test"

    def test_a_service_name_given_wins(self, pool_run: Path, receiver: Receiver) -> None:
        """--otlp-service-name, and the Python function's service_name, replace the script's name only."""
        from mpmon.analysis import export_otlp

        done = analyze(
            "--logdir", str(pool_run), "--otlp-endpoint", receiver.url, "--otlp-service-name", "etl"
        )
        assert done.returncode == 0, done.stderr
        assert export_otlp(pool_run, receiver.url, service_name="etl-2").ok
        resources = [attributes(rs.resource.attributes) for r in receiver.accepted for rs in r.resource_spans]
        assert {r["service.name"] for r in resources} == {"etl", "etl-2"}
        assert {r["process.runtime.version"] for r in resources} == {platform.python_version()}

    def test_a_module_run_with_m_is_named_by_its_module(self, tmp_path: Path, receiver: Receiver) -> None:
        """python -m jobs.nightly -> service.name "jobs.nightly"; on a host named by MPMON_HOSTNAME (as on
        Dask) the run_start line carries that name, so its resources still get the runtime."""
        (tmp_path / "jobs").mkdir()
        (tmp_path / "jobs" / "__init__.py").write_text("")
        (tmp_path / "jobs" / "nightly.py").write_text(PROGRAM)
        run_python(["-m", "jobs.nightly", "logs"], tmp_path, env={"MPMON_HOSTNAME": "node-7"}, timeout=120)
        assert run_start(tmp_path / "logs")["host"] == "node-7"
        done = analyze("--logdir", str(tmp_path / "logs"), "--otlp-endpoint", receiver.url)
        assert done.returncode == 0, done.stderr
        resources = [attributes(rs.resource.attributes) for r in receiver.accepted for rs in r.resource_spans]
        assert resources and {r["host.name"] for r in resources} == {"node-7"}
        assert {r["service.name"] for r in resources} == {"jobs.nightly"}
        assert {r["process.runtime.name"] for r in resources} == {sys.implementation.name}

    def test_python_c_has_a_stand_in_name(self, tmp_path: Path) -> None:
        """python -c has no script: run_start says "python-c" (and still the runtime)."""
        code = "import mpmon; mpmon.start_collector('logs', log_to_console=False); mpmon.stop_collector()"
        run_python(["-c", code], tmp_path, timeout=120)
        start = run_start(tmp_path / "logs")
        assert start["script"] == "python-c"
        assert start["process.runtime.version"] == platform.python_version()


PRINT_NAME = "from mpmon.run import program; print(program.script_name())"


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["nightly_job.py"], "nightly_job"),
        (["-m", "jobs.nightly"], "jobs.nightly"),
        (["-m", "jobs"], "jobs"),  # a package's __main__.py
        (["-c", PRINT_NAME], "python-c"),
        (["-"], "python-stdin"),
    ],
)
def test_the_script_name_of_each_way_to_start_python(tmp_path: Path, argv: list[str], name: str) -> None:
    """What run_start records as "script" (the default service.name) for each form of the command line."""
    for path in ("nightly_job.py", "jobs/nightly.py", "jobs/__main__.py"):
        (tmp_path / path).parent.mkdir(exist_ok=True)
        (tmp_path / path).write_text(PRINT_NAME)
    done = subprocess.run(
        [sys.executable, *argv], cwd=tmp_path, input=PRINT_NAME, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == name


def test_a_notebook_is_named_by_the_notebook(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a Jupyter kernel (argv[0] is ipykernel_launcher): the notebook's name when jupyter_server says it
    ($JPY_SESSION_NAME), else "jupyter-notebook"."""
    import types

    from mpmon.run import program

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setattr(sys, "argv", ["/env/lib/site-packages/ipykernel_launcher.py", "-f", "kernel.json"])
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert program.script_name() == "jupyter-notebook"
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/ana/Train model.ipynb")
    assert program.script_name() == "Train model"


def test_logs_without_the_program_fields_still_export(synthetic_logs: Path, receiver: Receiver) -> None:
    """Logs of an older mpmon (run_start without script or runtime): service.name falls back to the run's
    tag, as before; no process.runtime.* attribute; the tag rides along as mpmon.tag."""
    from mpmon.analysis import export_otlp

    summary = export_otlp(synthetic_logs, receiver.url)
    assert summary.ok and summary.sent == summary.spans > 0
    resources = [attributes(rs.resource.attributes) for r in receiver.accepted for rs in r.resource_spans]
    assert {r["service.name"] for r in resources} == {"synthetic"}
    assert {r["mpmon.tag"] for r in resources} == {"synthetic"}
    assert not [key for r in resources for key in r if key.startswith("process.runtime.")]


def sdk_export(run: load.Run, url: str) -> None:
    """Build one SDK span per row, with ids computed here from the documented formula, and export them."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExportResult
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode

    def sid(run_id: str, call_id: str) -> int:
        return int.from_bytes(hashlib.sha256(f"{run_id}/{call_id}".encode()).digest()[:8], "big")

    spans = []
    for row in run.calls.itertuples():
        trace = int.from_bytes(hashlib.sha256(row.run_id.encode()).digest()[:16], "big")
        parent = SpanContext(trace, sid(row.run_id, row.parent_id), False) if row.parent_id else None
        attrs: dict[str, Any] = {
            "code.function": row.function,
            "code.namespace": row.module,
            "code.function.name": f"{row.module}.{row.function}",
            "thread.name": row.thread_name,
            "mpmon.call_id": row.call_id,
            "mpmon.source": row.source,
        }
        if row.args:  # an empty text is left out, as mpmon does
            attrs["mpmon.args"] = row.args
        for name in ("duration_s", "cpu_time_s", "mem_delta_mib", "mem_final_mib"):
            if not pd.isna(getattr(row, name)):
                attrs[f"mpmon.{name}"] = float(getattr(row, name))
        if row.error_type:
            attrs["error.type"] = row.error_type
        resource = Resource(
            {
                "service.name": SCRIPT,
                "host.name": row.host,
                "process.pid": int(row.pid),
                "mpmon.run_id": row.run_id,
            }
        )
        spans.append(
            ReadableSpan(
                name=row.function,
                context=SpanContext(trace, sid(row.run_id, row.call_id), False),
                parent=parent,
                resource=resource,
                attributes=attrs,
                kind=SpanKind.INTERNAL,
                status=Status(StatusCode.ERROR) if row.status == "error" else Status(StatusCode.UNSET),
                start_time=row.start_time.value,
                end_time=row.end_time.value,
                instrumentation_scope=InstrumentationScope("mpmon"),
            )
        )
    exporter = OTLPSpanExporter(endpoint=url)
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    exporter.shutdown()


@pytest.mark.slow
class TestAnswers:
    def test_503_with_retry_after_then_200_loses_nothing(self, pool_run: Path, receiver: Receiver) -> None:
        """The refused batch is sent again after Retry-After; every span arrives exactly once."""
        receiver.script = [Answer(503, {"Retry-After": "1"})]
        done = analyze("--logdir", str(pool_run), "--otlp-endpoint", receiver.url, "--otlp-batch-size", "8")
        assert done.returncode == 0, done.stderr
        assert "(1 retry)" in done.stdout
        assert len(receiver.refused) == 1
        ids = [s.span_id for _, s in receiver.spans()]
        assert len(ids) == len(set(ids)) == ROWS
        assert len(receiver.accepted) == -(-ROWS // 8)

    def test_400_exits_2_with_the_servers_message(self, pool_run: Path, receiver: Receiver) -> None:
        """A 4xx is not retried: one line on stderr with the status and the server's reason, exit 2."""
        from google.rpc import status_pb2

        reason = status_pb2.Status(code=3, message="span name too long").SerializeToString()
        receiver.script = [Answer(400, body=reason)]
        done = analyze("--logdir", str(pool_run), "--otlp-endpoint", receiver.url)
        assert done.returncode == 2
        assert "HTTP 400 Bad Request: span name too long" in done.stderr
        assert "Traceback" not in done.stderr
        assert len(receiver.refused) == 1 and not receiver.accepted

    def test_a_server_error_stops_the_export_and_says_what_was_not_sent(
        self, pool_run: Path, receiver: Receiver
    ) -> None:
        """A 500 is final in OTLP: not retried, the export stops, exit 1 with the count left unsent."""
        receiver.script = [Answer(200), Answer(500, {"Content-Type": "text/plain"}, b"disk full")]
        done = analyze("--logdir", str(pool_run), "--otlp-endpoint", receiver.url, "--otlp-batch-size", "8")
        assert done.returncode == 1
        assert f"sent 8 of {ROWS} spans" in done.stdout
        assert f"stopped, {ROWS - 8} not sent: HTTP 500 Internal Server Error: disk full" in done.stdout
        assert len(receiver.accepted) == len(receiver.refused) == 1

    def test_partial_success_is_reported(self, pool_run: Path, receiver: Receiver) -> None:
        """Spans the server rejects in a 200 answer are counted and its message shown; exit 1."""
        partial = pb.ExportTracePartialSuccess(rejected_spans=3, error_message="3 spans too old")
        answer = pb.ExportTraceServiceResponse(partial_success=partial).SerializeToString()
        receiver.script = [Answer(200, body=answer)]
        done = analyze("--logdir", str(pool_run), "--otlp-endpoint", receiver.url, "--otlp-no-gzip")
        assert done.returncode == 1
        assert f"sent {ROWS - 3} of {ROWS} spans" in done.stdout
        assert "the server rejected 3: 3 spans too old" in done.stdout
        assert "Content-Encoding" not in receiver.headers[0]


class TestExporter:
    def test_retry_after_is_honoured_in_seconds_and_as_a_date(self, receiver: Receiver) -> None:
        """429 and 503 wait what Retry-After says (delta-seconds or an HTTP date), then succeed."""
        waits: list[float] = []
        receiver.script = [
            Answer(429, {"Retry-After": "7"}),
            Answer(503, {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}),
        ]
        with ex.OtlpHttpExporter(receiver.url, sleep=waits.append, max_wait=float("inf")) as sender:
            outcome = sender.export(pb.ExportTraceServiceRequest().SerializeToString())
        assert outcome.result is ex.ExportResult.SUCCESS and outcome.retries == 2
        assert waits[0] == 7.0 and waits[1] > 365 * 86400

    def test_a_connection_closed_while_idle_is_reopened_without_a_retry(self, receiver: Receiver) -> None:
        """The server closing a kept-alive connection between requests costs no back-off and no retry."""
        receiver.drop_idle = True
        waits: list[float] = []
        with ex.OtlpHttpExporter(receiver.url, sleep=waits.append) as sender:
            outcomes = [sender.export(pb.ExportTraceServiceRequest().SerializeToString()) for _ in range(3)]
        assert [(o.result, o.retries) for o in outcomes] == [(ex.ExportResult.SUCCESS, 0)] * 3
        assert waits == [] and len(receiver.accepted) == 3

    def test_an_unreachable_endpoint_fails_after_bounded_retries(self) -> None:
        """Connection refused is retried with growing back-off, then the batch is given up (not raised)."""
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # closed when the block ends: nothing listens there
        waits: list[float] = []
        with ex.OtlpHttpExporter(f"http://127.0.0.1:{port}", sleep=waits.append, max_retries=3) as sender:
            outcome = sender.export(b"")
        assert outcome.result is ex.ExportResult.FAILURE and "ConnectionRefusedError" in outcome.message
        assert len(waits) == 3 and waits[0] < waits[1] < waits[2]


def test_the_export_says_at_once_that_the_endpoint_refuses(synthetic_logs: Path) -> None:
    """A refused connection is said at its first attempt, with the wait and the retries left, long before
    the retries run out (about a minute of back-off); the export's start is said first."""
    import select
    import socket
    import time

    from helpers import clean_env

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    command = [sys.executable, "-m", "mpmon.analysis", "--logdir", str(synthetic_logs)]
    command += ["--otlp-endpoint", f"http://127.0.0.1:{port}"]
    with subprocess.Popen(command, cwd=ROOT, env=clean_env(), stderr=subprocess.PIPE, text=True) as export:
        assert export.stderr is not None
        lines: list[str] = []
        deadline = time.monotonic() + 30  # the first retry comes after ~1 s; the last after ~64 s
        try:
            while not any("retries left" in line for line in lines) and time.monotonic() < deadline:
                if select.select([export.stderr], [], [], 1.0)[0]:
                    lines.append(export.stderr.readline())
        finally:
            export.kill()
    assert lines and "exporting" in lines[0] and "spans of run 20261125T180000Z-cccccc" in lines[0]
    (refused,) = [line for line in lines if "retries left" in line]
    assert "ConnectionRefusedError" in refused and "6 retries left" in refused


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--otlp-endpoint", "localhost:4318"], "must be an http:// or https:// URL"),
        (["--otlp-endpoint", "http://127.0.0.1:9", "--otlp-header", "Bearer x"], "must be KEY=VALUE"),
        (
            ["--otlp-endpoint", "http://127.0.0.1:9", "--otlp-batch-size", "0"],
            "batch_size must be a positive",
        ),
        (["--otlp-endpoint", "http://127.0.0.1:9", "--run", "nosuchrun"], "run id 'nosuchrun' is unknown"),
    ],
)
def test_a_mistake_in_the_flags_exits_2(
    synthetic_logs: Path, flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad URL, header, batch size or run: one line on stderr, exit 2, nothing sent."""
    from mpmon.analysis.cli import main

    assert main(["--logdir", str(synthetic_logs), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("mpmon-analyze: error:")


class TestPackaging:
    def test_importing_mpmon_never_imports_opentelemetry(self) -> None:
        code = "import sys, mpmon, mpmon.analysis; print([m for m in sys.modules if 'opentelemetry' in m])"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
        assert done.stdout.strip() == "[]"

    def test_without_the_extra_the_error_names_the_install(
        self, synthetic_logs: Path, receiver: Receiver
    ) -> None:
        """No opentelemetry-proto: exit 2 and one line saying pip install 'mpmon[otlp]'."""
        code = (
            "import sys; sys.modules['opentelemetry'] = None\n"
            "from mpmon.analysis.cli import main\n"
            f"sys.exit(main(['--logdir', {str(synthetic_logs)!r}, '--otlp-endpoint', {receiver.url!r}]))"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 2
        assert "pip install 'mpmon[otlp]'" in done.stderr and "Traceback" not in done.stderr
        assert not receiver.accepted
