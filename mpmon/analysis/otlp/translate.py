"""A run's call rows as OTLP ``ExportTraceServiceRequest`` bodies: a pure function, no I/O.

Every row becomes one span, Timer and hook rows alike:

- ids are derived, never drawn: ``trace_id`` = the first 16 bytes of ``sha256(run_id)`` (or, with one trace
  per top-level call, of ``sha256(run_id + "/" + root call_id)``), ``span_id`` = the first 8 bytes of
  ``sha256(run_id + "/" + call_id)`` and ``parent_span_id`` the same for ``parent_id``; every host and every
  export computes the same ids with no coordination;
- one resource per (run, host, pid): ``service.name``, ``host.name``, ``process.pid``, ``mpmon.run_id``,
  ``mpmon.process_name``, and what that host's ``run_start`` line says (:mod:`.resource`: the script's
  name as the default ``service.name``, ``process.runtime.*``, ``mpmon.tag``);
- attributes ``code.function``, ``code.namespace``, ``code.function.name``, ``thread.name``, ``error.type``
  (OpenTelemetry semantic conventions) and ``mpmon.call_id``, ``mpmon.source``, ``mpmon.duration_s``,
  ``mpmon.cpu_time_s``, ``mpmon.mem_delta_mib``, ``mpmon.mem_final_mib``, ``mpmon.args``;
- a failed call has status ERROR and an ``exception`` event (``exception.type``, ``exception.message``,
  ``exception.stacktrace`` from its error.log entry, joined on ``uuid == call_id``).

Spans are encoded column-wise (:mod:`.protobuf`), ``chunk`` rows at a time, and cut into requests of at
most ``batch_size`` spans, grouped by resource. :mod:`.stream` makes the same requests from scanned rows,
one chunk at a time.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa
import pyarrow.compute as pc

from mpmon.analysis.load import to_micros
from mpmon.analysis.otlp import protobuf as pb
from mpmon.analysis.otlp import resource

__all__ = [
    "COLUMNS", "Batch", "ErrorDetail", "Options", "error_details", "requests", "span_count", "span_id",
    "trace_id",
]  # fmt: skip

SCOPE_NAME = "mpmon"
STATUS_ERROR = 2  # Status.StatusCode.STATUS_CODE_ERROR
KIND_INTERNAL = 1  # Span.SpanKind.SPAN_KIND_INTERNAL
_COLUMNS = (
    "run_id", "call_id", "parent_id", "source", "function", "module", "start_time", "end_time",
    "duration_s", "cpu_time_s", "mem_delta_mib", "mem_final_mib", "pid", "process_name", "thread_name",
    "host", "status", "error_type", "args",
)  # fmt: skip
COLUMNS = _COLUMNS
"""The results columns the spans are made of."""
_FLOATS = ("duration_s", "cpu_time_s", "mem_delta_mib", "mem_final_mib")
_NOT_TEXT = ("start_time", "end_time", "pid")


@dataclass(frozen=True)
class Options:
    """How rows become spans: the service name, one trace per run or per top-level call, request size."""

    service_name: str = "mpmon"  # where ``programs`` names none
    programs: resource.Programs = field(default_factory=dict)  # each (run, host)'s run_start attributes
    trace_per_call: bool = False
    batch_size: int = 1000
    chunk: int = 64_000  # rows encoded per step (rounded to whole batches): bounds memory
    default_run_id: str = ""  # for rows without a run id (logs older than run ids)


@dataclass(frozen=True)
class ErrorDetail:
    """What error.log says about one failed call."""

    error_type: str
    message: str
    stacktrace: str


@dataclass(frozen=True)
class Batch:
    """One request body (a serialized ``ExportTraceServiceRequest``) and how many spans it holds."""

    body: bytes
    spans: int


def trace_id(run_id: str, root_call_id: str | None = None) -> bytes:
    """The 16-byte trace id of a run, or of one top-level call of it."""
    key = run_id if root_call_id is None else f"{run_id}/{root_call_id}"
    return hashlib.sha256(key.encode()).digest()[:16]


def span_id(run_id: str, call_id: str) -> bytes:
    """The 8-byte span id of a call."""
    return hashlib.sha256(f"{run_id}/{call_id}".encode()).digest()[:8]


def error_details(lines: Iterable[bytes]) -> dict[str, ErrorDetail]:
    """error.log entries by ``uuid`` (the call id): type, message and the (already sanitized) traceback."""
    details: dict[str, ErrorDetail] = {}
    for raw in lines:
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("uuid"):
            details[str(entry["uuid"])] = ErrorDetail(
                str(entry.get("error_type") or ""),
                str(entry.get("error_message") or ""),
                str(entry.get("traceback") or ""),
            )
    return details


def span_count(calls: pd.DataFrame) -> int:
    """How many spans :func:`requests` makes of ``calls``: the rows with a start and an end time."""
    return int((calls["start_time"].notna() & calls["end_time"].notna()).sum())


def requests(
    calls: pd.DataFrame, errors: Mapping[str, ErrorDetail], options: Options = Options()
) -> Iterator[Batch]:
    """The rows of ``calls`` (as :func:`mpmon.analysis.load_run` returns them) as request bodies.

    Rows without a start or end time cannot be spans and are left out (``len(calls)`` minus the spans
    yielded says how many).
    """
    table = _prepare(calls, options.default_run_id)
    if table.num_rows == 0:
        return
    step = max(1, options.chunk // options.batch_size) * options.batch_size
    ids = _ids(table, step)
    traces = _trace_fields(table, ids.parent_index, options.trace_per_call)
    order = pc.sort_indices(table, [(n, "ascending") for n in ("run_id", "host", "pid", "start_ns")])
    resources = _resources(table.select(["run_id", "host", "pid", "process_name"]).take(order), options)
    scope = pb.field(1, SCOPE_NAME.encode()) + pb.field(2, _version().encode())
    for lo in range(0, table.num_rows, step):
        rows = order.slice(lo, step)  # rows in resource order, taken a chunk at a time: no sorted copy
        fields = [traces.take(rows), ids.span.take(rows), ids.parent.take(rows)]
        spans = _spans(table.take(rows), fields, errors)
        yield from _batches(spans, resources[0][lo : lo + step], resources[1], scope, options.batch_size)


# --- rows ----------------------------------------------------------------------------------------------


def _prepare(calls: pd.DataFrame, default_run_id: str) -> pa.Table:
    """The needed columns as Arrow (strings shared with the frame, not copied), rows with both times."""
    frame = calls[list(_COLUMNS)]
    frame = frame[(frame["start_time"].notna() & frame["end_time"].notna()).to_numpy()]
    table = pa.table(
        {
            **{n: _text(frame[n]) for n in _COLUMNS if n not in (*_FLOATS, *_NOT_TEXT)},
            **{n: pa.array(frame[n].to_numpy(dtype=float, na_value=np.nan)) for n in _FLOATS},
            "pid": pa.array(frame["pid"].fillna(0).to_numpy(dtype=np.int64)),
            "start_ns": pa.array(to_micros(frame["start_time"]) * 1000),
            "end_ns": pa.array(to_micros(frame["end_time"]) * 1000),
        }
    )
    if default_run_id:
        run_ids = pc.if_else(pc.equal(table["run_id"], ""), default_run_id, table["run_id"])
        table = table.set_column(0, "run_id", run_ids)
    return table


def _text(values: pd.Series) -> pa.Array:
    """A string column without nulls."""
    return pc.fill_null(pa.array(values, pa.string(), from_pandas=True), "")


@dataclass(frozen=True)
class _Ids:
    """Every row's encoded span id field (2) and parent span id field (4, empty for a top-level call), and
    the row of its parent (-1 when none or not among the rows)."""

    span: pa.Array
    parent: pa.Array
    parent_index: np.ndarray[Any, np.dtype[np.int64]]


def _ids(table: pa.Table, step: int) -> _Ids:
    """Hash each call once; a parent among the rows lends its id, only an absent parent is hashed."""
    run, call, parent = (table[n].combine_chunks() for n in ("run_id", "call_id", "parent_id"))
    keys = pc.binary_join_element_wise(run, call, "/")
    hashed = [_hash_ids(keys.slice(lo, step).to_pylist()) for lo in range(0, len(keys), step)]
    span = pa.concat_arrays(hashed) if hashed else pb.column([])
    parent_keys = pc.binary_join_element_wise(run, parent, "/")
    index = pc.fill_null(pc.index_in(parent_keys, value_set=keys), -1).to_numpy().astype(np.int64)
    has_parent = pc.not_equal(parent, "").to_numpy(zero_copy_only=False)
    index[~has_parent] = -1
    absent: Any = pa.scalar(b"", pa.binary())
    if (missing := np.flatnonzero(has_parent & (index < 0))).size:  # parents outside the selection
        hashes = _hash_ids(parent_keys.take(pa.array(missing)).to_pylist()).to_pylist()
        absent = np.full(len(index), b"", dtype=object)
        absent[missing] = hashes
        absent = pa.array(absent, pa.binary())
    parent_column = pc.if_else(pa.array(index >= 0), span.take(pa.array(np.maximum(index, 0))), absent)
    return _Ids(
        pb.join(pb.constant(pb.tag(2, pb.LEN) + b"\x08"), span),
        pb.optional(has_parent, pb.join(pb.constant(pb.tag(4, pb.LEN) + b"\x08"), parent_column)),
        index,
    )


def _hash_ids(keys: list[str]) -> pa.Array:
    """The 8-byte span id of each ``run_id/call_id`` key (see :func:`span_id`)."""
    sha256 = hashlib.sha256
    return pa.array([sha256(k.encode()).digest()[:8] for k in keys], pa.binary())


def _trace_fields(table: pa.Table, parent_index: np.ndarray[Any, Any], per_call: bool) -> pa.Array:
    """Each row's encoded ``trace_id`` field: one trace per run, or per top-level call."""
    run_ids = table["run_id"].combine_chunks()
    if not per_call:
        codes = run_ids.dictionary_encode()
        fields = [pb.field(1, trace_id(str(r))) for r in codes.dictionary.to_pylist()]
        return pb.column(fields).take(codes.indices)
    roots = _roots(parent_index)
    root_ids = table["call_id"].combine_chunks().take(pa.array(roots))
    pairs = zip(run_ids.to_pylist(), root_ids.to_pylist(), strict=True)
    cache: dict[tuple[str, str], bytes] = {}
    return pb.column([cache.get(p) or cache.setdefault(p, pb.field(1, trace_id(*p))) for p in pairs])


def _roots(parent_index: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Each row's topmost ancestor among the rows (itself for a top-level call), by pointer jumping."""
    up = np.where(parent_index >= 0, parent_index, np.arange(len(parent_index)))
    for _ in range(64):  # depth doubles each round; a cycle in bad data stops here
        nxt = up[up]
        if np.array_equal(nxt, up):
            break
        up = nxt
    return up


def _resources(table: pa.Table, options: Options) -> tuple[np.ndarray[Any, Any], list[bytes]]:
    """Each row's resource number, and each resource's encoded ``Resource`` (one per run, host, pid);
    ``table`` is in resource order."""
    change = np.zeros(table.num_rows, dtype=bool)
    change[0] = True
    for name in ("run_id", "host", "pid"):
        column = table[name].combine_chunks()
        change[1:] |= pc.not_equal(column[1:], column[:-1]).to_numpy(zero_copy_only=False)
    firsts = table.take(pa.array(np.flatnonzero(change))).to_pylist()
    bodies = [_resource(options, r["run_id"], r["host"], r["pid"], r["process_name"]) for r in firsts]
    return np.cumsum(change) - 1, bodies


def _resource(options: Options, run_id: str, host: str, pid: int, process_name: str) -> bytes:
    """One encoded ``Resource``: its attributes (field 1)."""
    described = options.programs.get((run_id, host)) or options.programs.get((run_id, None)) or {}
    attributes = [
        pb.string_kv(resource.SERVICE_NAME, described.get(resource.SERVICE_NAME, options.service_name)),
        pb.string_kv("host.name", host),
        pb.int_kv("process.pid", pid),
        *(pb.string_kv(key, described[key]) for key in resource.RUNTIME_KEYS if key in described),
        pb.string_kv("mpmon.run_id", run_id),
        pb.string_kv("mpmon.process_name", process_name),
    ]
    if resource.TAG in described:
        attributes.append(pb.string_kv(resource.TAG, described[resource.TAG]))
    return b"".join(pb.field(1, a) for a in attributes)


# --- spans ---------------------------------------------------------------------------------------------


def _spans(part: pa.Table, ids: list[pa.Array], errors: Mapping[str, ErrorDetail]) -> pa.Array:
    """Each row's encoded ``Span``, as the ``ScopeSpans.spans`` field (2); ``ids`` holds its trace id,
    span id and parent span id fields."""
    return pb.message_column(
        2,
        *ids,
        pb.length_delimited(5, part["function"]),
        pb.constant(pb.tag(6, pb.VARINT) + pb.varint(KIND_INTERNAL)),
        pb.fixed64_column(7, part["start_ns"].to_numpy().astype(np.uint64)),
        pb.fixed64_column(8, part["end_ns"].to_numpy().astype(np.uint64)),
        *_attributes(part),
        _failures(part, errors),
    )


def _attributes(part: pa.Table) -> list[pa.Array]:
    """The span attributes (field 9), one column per attribute; an empty or NaN value is left out."""
    module, function = part["module"], part["function"]
    qualified = pc.if_else(pc.equal(module, ""), function, pc.binary_join_element_wise(module, function, "."))
    columns = [
        _string_attribute("code.function", function),
        _string_attribute("code.namespace", module),
        _string_attribute("code.function.name", qualified),
        _string_attribute("thread.name", part["thread_name"]),
        _string_attribute("mpmon.call_id", part["call_id"]),
        _string_attribute("mpmon.source", part["source"]),
    ]
    columns += [_double_attribute(f"mpmon.{name}", part[name]) for name in _FLOATS]
    columns.append(_string_attribute("mpmon.args", part["args"]))
    columns.append(_string_attribute("error.type", part["error_type"]))
    return columns


def _string_attribute(key: str, values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A string attribute per row, absent where the value is empty."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    present = pc.not_equal(values, "").to_numpy(zero_copy_only=False)
    return pb.optional(present, pb.string_attributes(9, key, values))


def _double_attribute(key: str, values: pa.ChunkedArray) -> pa.Array:
    """A double attribute per row, absent where the value is NaN (not tracked)."""
    numbers = values.to_numpy()
    key_field = pb.field(1, key.encode())
    prefix = pb.tag(9, pb.LEN) + pb.varint(len(key_field) + 11) + key_field + pb.tag(2, pb.LEN) + b"\x09"
    encoded = pb.join(pb.constant(prefix), pb.fixed64_column(4, numbers))
    return pb.optional(~np.isnan(numbers), encoded)


def _failures(part: pa.Table, errors: Mapping[str, ErrorDetail]) -> pa.Array:
    """For failed calls, the ``exception`` event (field 11) and the ERROR status (field 15)."""
    failed = np.flatnonzero(pc.equal(part["status"], "error").to_numpy(zero_copy_only=False))
    values = [b""] * part.num_rows
    for i in failed.tolist():
        call_id, error_type = part["call_id"][i].as_py(), part["error_type"][i].as_py()
        detail = errors.get(call_id) or ErrorDetail(error_type, "", "")
        values[i] = _failure(detail, error_type or detail.error_type, part["end_ns"][i].as_py())
    return pb.column(values)


def _failure(detail: ErrorDetail, error_type: str, at_ns: int) -> bytes:
    """One failed call's event and status, encoded."""
    attributes = [("exception.type", error_type), ("exception.message", detail.message)]
    attributes.append(("exception.stacktrace", detail.stacktrace))
    event = pb.tag(1, pb.FIXED64) + at_ns.to_bytes(8, "little") + pb.field(2, b"exception")
    event += b"".join(pb.field(3, pb.string_kv(k, v)) for k, v in attributes if v)
    message = f"{error_type}: {detail.message}" if detail.message else error_type
    status = pb.field(2, message.encode("utf-8", "replace")) + pb.tag(3, pb.VARINT) + pb.varint(STATUS_ERROR)
    return pb.field(11, event) + pb.field(15, status)


# --- requests ------------------------------------------------------------------------------------------


def _batches(
    spans: pa.Array, resource_of: np.ndarray[Any, Any], resources: list[bytes], scope: bytes, size: int
) -> Iterator[Batch]:
    """Requests of at most ``size`` spans; within one, the spans of each resource in one ResourceSpans."""
    offsets = np.frombuffer(spans.buffers()[1], dtype=np.int32)[spans.offset : spans.offset + len(spans) + 1]
    data = spans.buffers()[2]
    for lo in range(0, len(spans), size):
        hi = min(lo + size, len(spans))
        cuts = [lo, *(lo + 1 + np.flatnonzero(np.diff(resource_of[lo:hi]))).tolist(), hi]
        body = bytearray()
        for a, b in itertools.pairwise(cuts):
            span_bytes = data[int(offsets[a]) : int(offsets[b])].to_pybytes()
            scope_spans = pb.field(1, scope) + span_bytes
            body += pb.field(1, pb.field(1, resources[resource_of[a]]) + pb.field(2, scope_spans))
        yield Batch(bytes(body), hi - lo)


def _version() -> str:
    """mpmon's version, for the instrumentation scope."""
    try:
        return metadata.version("mpmon")
    except metadata.PackageNotFoundError:
        return "unknown"
