"""Rows to OTLP requests, the pure part: every body decodes with the official opentelemetry-proto classes
and says what the rows say (ids, parents, resources, attributes, errors, batching)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mpmon.analysis import load

from . import logfactory as lf
from .logfactory import RUN_A

pytest.importorskip("opentelemetry.proto")
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from mpmon.analysis.otlp import resource as otlp_resource
from mpmon.analysis.otlp import translate


def decode(batches: list[translate.Batch]) -> list[ExportTraceServiceRequest]:
    return [ExportTraceServiceRequest.FromString(b.body) for b in batches]


def spans_of(requests: list[ExportTraceServiceRequest]) -> list[tuple[dict[str, Any], Any]]:
    """Every span with its resource's attributes."""
    out = []
    for request in requests:
        for resource_spans in request.resource_spans:
            resource = attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                assert scope_spans.scope.name == "mpmon"
                out += [(resource, span) for span in scope_spans.spans]
    return out


def attributes(kvs: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for kv in kvs:
        kind = kv.value.WhichOneof("value")
        values[kv.key] = getattr(kv.value, kind)
    return values


@pytest.fixture
def run(tmp_path: Path) -> load.Run:
    """A synthetic run: a main call, 2 workers with nested calls and failing calls, in the log formats."""
    rows = lf.make_run(RUN_A, workers=2, tasks=10)
    lf.write_run(tmp_path / "logs", rows, tag="synthetic")
    return load.select_run(load.read_log_dir(tmp_path / "logs"))


def export(run: load.Run, **options: Any) -> list[ExportTraceServiceRequest]:
    errors = translate.error_details(run.error_lines)
    return decode(list(translate.requests(run.calls, errors, translate.Options(**options))))


class TestSpans:
    def test_one_span_per_row_with_the_documented_ids(self, run: load.Run) -> None:
        """Every row is one span; trace id = sha256(run_id)[:16], span id = sha256(run_id/call_id)[:8]."""
        spans = spans_of(export(run))
        assert len(spans) == len(run.calls)
        by_id = {s.span_id: s for _, s in spans}
        for row in run.calls.itertuples():
            span = by_id[hashlib.sha256(f"{row.run_id}/{row.call_id}".encode()).digest()[:8]]
            assert span.trace_id == hashlib.sha256(row.run_id.encode()).digest()[:16]
            assert span.name == row.function
            assert span.start_time_unix_nano == row.start_time.value  # ns since the epoch
            assert span.end_time_unix_nano == row.end_time.value
            parent = hashlib.sha256(f"{row.run_id}/{row.parent_id}".encode()).digest()[:8]
            assert span.parent_span_id == (parent if row.parent_id else b"")

    def test_a_parent_outside_the_rows_is_still_named(self, run: load.Run) -> None:
        """Rows whose parent was not selected (a time window) still point at its derived span id."""
        children = run.calls[run.calls["parent_id"] != ""].reset_index(drop=True)
        assert len(children) > 0
        spans = spans_of(decode(list(translate.requests(children, {}, translate.Options()))))
        expected = {translate.span_id(RUN_A, c): translate.span_id(RUN_A, p) for c, p in
                    zip(children["call_id"], children["parent_id"], strict=True)}  # fmt: skip
        assert {s.span_id: s.parent_span_id for _, s in spans} == expected

    def test_attributes_follow_the_conventions(self, run: load.Run) -> None:
        """code.*, thread.name and mpmon.* attributes; untracked CPU and memory are left out, not NaN."""
        spans = {attributes(s.attributes)["mpmon.call_id"]: s for _, s in spans_of(export(run))}
        for row in run.calls.itertuples():
            attrs = attributes(spans[row.call_id].attributes)
            assert attrs["code.function"] == row.function
            assert attrs["code.namespace"] == row.module
            assert attrs["code.function.name"] == f"{row.module}.{row.function}"
            assert attrs["thread.name"] == row.thread_name
            assert attrs["mpmon.source"] == row.source
            assert attrs["mpmon.args"] == row.args
            assert attrs["mpmon.duration_s"] == pytest.approx(row.duration_s)
            for name in ("cpu_time_s", "mem_delta_mib", "mem_final_mib"):
                value = getattr(row, name)
                if math.isnan(value):
                    assert f"mpmon.{name}" not in attrs
                else:
                    assert attrs[f"mpmon.{name}"] == value

    def test_one_resource_per_process(self, run: load.Run) -> None:
        """Resources carry service.name, host.name, process.pid and the run id; one per (host, pid)."""
        requests = export(run, service_name="etl")
        resources = [attributes(rs.resource.attributes) for r in requests for rs in r.resource_spans]
        assert sorted(r["process.pid"] for r in resources) == sorted(run.calls["pid"].unique())
        for resource in resources:
            assert resource["service.name"] == "etl"
            assert resource["host.name"] == lf.HOST
            assert resource["mpmon.run_id"] == RUN_A

    def test_failed_calls_have_error_status_and_exception_event(self, run: load.Run) -> None:
        """status ERROR, error.type, and an exception event whose stacktrace is error.log's traceback."""
        entries = {json.loads(line)["uuid"]: json.loads(line) for line in run.error_lines}
        failed = run.calls[run.calls["status"] == "error"]
        assert len(failed) > 0
        spans = {attributes(s.attributes)["mpmon.call_id"]: s for _, s in spans_of(export(run))}
        for row in failed.itertuples():
            span = spans[row.call_id]
            assert span.status.code == span.status.STATUS_CODE_ERROR
            assert attributes(span.attributes)["error.type"] == row.error_type
            (event,) = span.events
            assert event.name == "exception"
            event_attrs = attributes(event.attributes)
            assert event_attrs["exception.type"] == row.error_type
            entry = entries[row.call_id]
            assert event_attrs["exception.message"] == entry["error_message"]
            assert event_attrs["exception.stacktrace"] == entry["traceback"]
        ok = [s for s in spans.values() if not s.events]
        assert len(ok) == len(run.calls) - len(failed)
        assert all(s.status.code == s.status.STATUS_CODE_UNSET for s in ok)


class TestProgram:
    """The run_start line's script and runtime on the resources (logs of this mpmon, see the end-to-end
    tests in test_otlp_export.py); a host that wrote no run_start line of its own gets the run's name."""

    def events(self) -> list[dict[str, Any]]:
        start = lf.run_start_line(RUN_A, "nightly", lf.T0)
        start |= {"script": "etl_job", "process.runtime.name": "pypy", "process.runtime.version": "3.10.14"}
        return [start]

    def resources(self, run: load.Run, **options: Any) -> dict[str, list[dict[str, Any]]]:
        calls = run.calls.copy()
        calls["host"] = calls["host"].astype(str).where(calls["pid"] != calls["pid"].max(), "other")
        batches = translate.requests(calls, {}, translate.Options(**options))
        found: dict[str, list[dict[str, Any]]] = {}
        for request in decode(list(batches)):
            for rs in request.resource_spans:
                described = attributes(rs.resource.attributes)
                found.setdefault(described["host.name"], []).append(described)
        assert sorted(found) == sorted([lf.HOST, "other"])
        return found

    def test_the_script_names_the_service_and_the_runtime_is_its_hosts(self, run: load.Run) -> None:
        found = self.resources(run, service_name="fallback", programs=otlp_resource.programs(self.events()))
        for described in found[lf.HOST]:
            assert described["service.name"] == "etl_job"
            assert described["process.runtime.name"] == "pypy"
            assert described["process.runtime.version"] == "3.10.14"
            assert described["mpmon.tag"] == "nightly"
        for described in found["other"]:
            assert (described["service.name"], described["mpmon.tag"]) == ("etl_job", "nightly")
            assert "process.runtime.name" not in described  # another host's Python is not this one's

    def test_a_name_given_replaces_the_script_only(self, run: load.Run) -> None:
        programs = otlp_resource.programs(self.events(), name_service=False)
        found = self.resources(run, service_name="given", programs=programs)
        assert {d["service.name"] for ds in found.values() for d in ds} == {"given"}
        assert {d["process.runtime.name"] for d in found[lf.HOST]} == {"pypy"}


class TestBatches:
    @pytest.mark.parametrize("size", [1, 7, 1000])
    def test_batches_are_bounded_and_lose_nothing(self, run: load.Run, size: int) -> None:
        """No request holds more than batch_size spans; together they hold every row once."""
        batches = list(translate.requests(run.calls, {}, translate.Options(batch_size=size, chunk=16)))
        assert all(0 < b.spans <= size for b in batches)
        spans = spans_of(decode(batches))
        assert [len(spans_of([r])) for r in decode(batches)] == [b.spans for b in batches]
        assert sorted(s.span_id for _, s in spans) == sorted(
            translate.span_id(RUN_A, c) for c in run.calls["call_id"]
        )

    def test_the_same_rows_give_the_same_bytes(self, run: load.Run) -> None:
        """Exporting twice (rows in any order) gives identical requests: ids are derived, never drawn."""
        first = [b.body for b in translate.requests(run.calls, {}, translate.Options())]
        shuffled = run.calls.sample(frac=1.0, random_state=3).reset_index(drop=True)
        assert [b.body for b in translate.requests(shuffled, {}, translate.Options())] == first


class TestTracePerCall:
    def test_each_top_level_call_is_its_own_trace(self, run: load.Run) -> None:
        """trace id = sha256(run_id/root call_id)[:16]; a nested call shares its root's trace."""
        found = spans_of(export(run, trace_per_call=True))
        spans = {attributes(s.attributes)["mpmon.call_id"]: s for _, s in found}
        parent_of = dict(zip(run.calls["call_id"], run.calls["parent_id"], strict=True))
        for call_id, span in spans.items():
            root = call_id
            while parent_of.get(root):
                root = parent_of[root]
            assert span.trace_id == translate.trace_id(RUN_A, root)
        assert len({s.trace_id for s in spans.values()}) == (run.calls["parent_id"] == "").sum()


def test_rows_without_times_are_left_out_and_counted() -> None:
    """A row without a start time cannot be a span: span_count says how many spans there are."""
    rows = lf.make_run(RUN_A, workers=1, tasks=3)
    frame = lf.frame(rows)
    for name in ("start_time", "end_time"):
        frame[name] = pd.to_datetime(frame[name], utc=True).astype("datetime64[us, UTC]")
    frame.loc[1, "start_time"] = pd.NaT
    batches = list(translate.requests(frame, {}, translate.Options()))
    assert sum(b.spans for b in batches) == translate.span_count(frame) == len(frame) - 1
