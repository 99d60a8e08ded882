"""What travels from a process to the collector: raw records as flat tuples of plain values, in batches.

A process does no formatting: it packs the numbers it measured into a tuple and the collector turns
them into rows and lines. A batch is pickled, but decoded by an unpickler that refuses every global,
so whatever a peer sends, only str, bytes, int, float, bool, None, tuples, lists and dicts come out:
no class is ever looked up and no code runs.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import pickle
import re
import socket
import struct
import time
from collections.abc import Iterator
from multiprocessing import connection
from operator import itemgetter
from typing import Any, Final, NamedTuple

__all__ = [
    "ACK",
    "CALL",
    "CALL_FIELDS",
    "CALL_NUMBERS",
    "DROPPED",
    "ERROR",
    "ERROR_FIELDS",
    "FLUSH",
    "GATHER",
    "GATHERED",
    "LOG",
    "LOG_FIELDS",
    "LOST",
    "MAX_MESSAGE",
    "META_FIELDS",
    "PROGRESS",
    "PROGRESS_FIELDS",
    "STOP",
    "STOPPED",
    "SYNC",
    "Batch",
    "RejectedPayload",
    "admit",
    "call_record",
    "connect",
    "decode_batch",
    "encode_batch",
    "time_limit",
]

# Control messages, sent as raw bytes (a batch is a pickle and always starts with b"\x80").
STOP: Final = b"stop"
"""Asks the collector to drain and close; `STOP + b":" + seconds` also bounds the drain."""
STOPPED: Final = b"stopped"
SYNC: Final = b"sync"
"""Sender to collector: this sender now waits for confirmations, so write what has come without
gathering more."""
FLUSH: Final = b"flush"
"""Sender to collector: write everything received from this connection so far to disk, including
closing the current Parquet part so that readers see the rows, then ACK as usual (`flush(wait=True)`)."""
GATHER: Final = b"gather"
"""Collector to sender, at stop: hand over everything buffered now (long-lived processes that mpmon did not
start, such as loky's, Dask's or Ray's workers, may hold a second of records), then answer GATHERED."""
GATHERED: Final = b"gathered"
"""Sender to collector: every record buffered when GATHER came has been sent before this message."""
MAX_MESSAGE: Final = 4 << 20
"""The largest batch message, in bytes: a sender splits a larger batch before sending it, and the
collector refuses any message announced as larger, unread. The largest single record (an error with a
message and a traceback of render.MAX_TEXT characters each, 4 UTF-8 bytes apiece at worst, and its
arguments) is about 0.6 MiB."""
ACK: Final = b"ack:"
"""Collector to sender, `ACK + decimal seq`: every batch of this connection up to seq is on disk (or
was counted as lost by the collector), so the sender may forget it."""
LOST: Final = b"lost:"
"""Collector to sender, `LOST + decimal count`, sent before the ACK it concerns: that many records of
this connection could not be written (a failed write, a malformed or oversized batch); the run summary
counts them. `flush(wait=True)` then returns False, and a strict run fails at stop."""

# Record kinds: the first item of every record tuple.
CALL: Final = 0
ERROR: Final = 1
LOG: Final = 2
DROPPED: Final = 3
"""(DROPPED, count): records this process dropped under the opt-in drop policy since it last said so."""
PROGRESS: Final = 4
"""(PROGRESS, time_ns, label, total, done): a declared total (-1: unchanged) and items done since the
last such record (mpmon.progress / mpmon.track); only the live view reads it."""

# Field order of each kind (the kind itself comes first and is not listed).
CALL_FIELDS: Final = (
    "source",  # "timer" or "hook"
    "function",
    "module",
    "call_no",  # this process's counter; with the batch's id prefix it makes the call_id
    "parent_no",  # 0 when there is no enclosing monitored call
    "start_ns",  # wall clock at start: the perf counter start plus the process's offset (Sender.wall_offset)
    "duration_ns",  # perf_counter_ns() difference
    "cpu_ns",  # process CPU time difference, -1 when not tracked
    "rss_before",  # raw RSS (probe.rss_raw: a /proc statm line or an int of bytes), -1 when not tracked
    "rss_after",  # the same, after the call
    "thread_name",
    "error_type",  # "" when the call returned
    "args",  # (positional reprs, ((name, repr), ...)) or None
    "route",  # (log_to_console, log_to_file, results_format), each None when unset
)


def call_record(
    source: str,
    function: str,
    module: str,
    call_no: int,
    parent_no: int,
    start_ns: int,
    duration_ns: int,
    cpu_ns: int,
    rss_before: bytes | int,
    rss_after: bytes | int,
    thread_name: str,
    error_type: str,
    args: Any,
    route: tuple[Any, ...],
) -> tuple[Any, ...]:
    """The CALL record: CALL followed by the values of CALL_FIELDS, in that order. The one builder of it
    (Timer's inline fast path is tested to build the same tuple)."""
    return (CALL, source, function, module, call_no, parent_no, start_ns, duration_ns, cpu_ns, rss_before,
            rss_after, thread_name, error_type, args, route)  # fmt: skip


ERROR_FIELDS: Final = (
    "function",
    "module",
    "call_no",
    "time_ns",
    "thread_name",
    "error_type",
    "error_message",
    "traceback",
    "args",
    "route",  # (log_to_console, log_to_file, error_log_file, max_bytes, backup_count), None when unset
)
LOG_FIELDS: Final = ("time_ns", "level", "logger", "message", "thread_name", "module", "function")
DROPPED_FIELDS: Final = ("count",)
PROGRESS_FIELDS: Final = ("time_ns", "label", "total", "done")
CALL_NUMBERS: Final = tuple(CALL_FIELDS.index(name) for name in
                             ("call_no", "parent_no", "start_ns", "duration_ns", "cpu_ns"))  # fmt: skip
"""The call columns (indices in CALL_FIELDS) that travel as int64 values, little-endian, in one bytes
object (or, when a value does not fit, as a tuple like the others)."""
# Each batch starts with these, shared by all its records.
META_FIELDS: Final = ("pid", "process_name", "host", "id_prefix", "run_id")

_ID_PREFIX: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-")
_ARITY: Final = {
    CALL: len(CALL_FIELDS) + 1,
    ERROR: len(ERROR_FIELDS) + 1,
    LOG: len(LOG_FIELDS) + 1,
    DROPPED: len(DROPPED_FIELDS) + 1,
    PROGRESS: len(PROGRESS_FIELDS) + 1,
}


class RejectedPayload(ValueError):
    """A received batch that is not a well-formed mpmon batch of plain values."""


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles plain values only: any reference to a global (class, function) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise RejectedPayload(f"payload refers to the global {module}.{name}")


class Batch(NamedTuple):
    """A decoded batch: its header, its records other than calls, the sender's sequence number of it
    (0: none), and its call records in columns (CALL_FIELDS, the kind left out; () when it holds none).

    A batch made from rows (a spill file, a test) may also hold its calls among `records`: the writer
    takes both."""

    meta: tuple[Any, ...]
    records: list[tuple[Any, ...]]
    seq: int
    calls: tuple[Any, ...] = ()

    @property
    def size(self) -> int:
        """How many records the batch holds, calls in columns included."""
        return len(self.records) + (len(self.calls[0]) if self.calls else 0)


def encode_batch(meta: tuple[Any, ...], records: list[tuple[Any, ...]], seq: int = 0) -> bytes:
    """One batch as bytes for Connection.send_bytes; `seq` numbers it for the collector's ACK.

    The call records leave in columns, one tuple per field of CALL_FIELDS (the sender transposes them
    once per batch, so the one collector makes its table from columns without a step per record); the
    other kinds as rows: `(meta, other records, seq, call columns)`."""
    if not records:
        return pickle.dumps((meta, records, seq, ()), protocol=5)
    kinds = set(map(itemgetter(0), records))
    if kinds == {CALL}:
        calls, others = records, []
    else:
        calls = [r for r in records if r[0] == CALL]
        others = [r for r in records if r[0] != CALL]
    columns: list[Any] = list(zip(*calls))[1:] if calls else []
    if columns:
        numbers = _int64s(len(calls))
        for index in CALL_NUMBERS:
            try:  # noqa: SIM105 (contextlib.suppress: an object and two calls a column, a fifth of a small batch)
                columns[index] = numbers.pack(*columns[index])
            except struct.error:  # not all int64: left as a tuple
                pass
    return pickle.dumps((meta, others, seq, tuple(columns)), protocol=5)


@functools.lru_cache(maxsize=64)
def _int64s(count: int) -> struct.Struct:
    """The little-endian int64 format of `count` values: packing a column with it costs a third of
    `array("q")`'s, and a batch's size repeats (BATCH_SIZE, a pool's chunks)."""
    return struct.Struct(f"<{count}q")


def decode_batch(payload: bytes) -> Batch:
    """The (meta, records, seq, calls) of a batch (a `(meta, records, seq)` triple holds its calls as
    rows); RejectedPayload if it is anything else."""
    try:
        batch = _PlainUnpickler(io.BytesIO(payload)).load()
    except RejectedPayload:
        raise
    except Exception as exc:
        raise RejectedPayload(f"undecodable payload: {exc!r}") from None
    if not (isinstance(batch, tuple) and len(batch) in (3, 4)):
        raise RejectedPayload("a batch is a (meta, records, seq[, calls]) tuple")
    meta, records, seq = batch[:3]
    calls = batch[3] if len(batch) == 4 else ()
    if not (isinstance(meta, tuple) and len(meta) == len(META_FIELDS) and isinstance(records, list)):
        raise RejectedPayload("malformed batch header")
    if type(seq) is not int or seq < 0:
        raise RejectedPayload("malformed batch number")
    pid, process_name, host, id_prefix, run_id = meta
    if not (type(pid) is int and all(type(t) is str for t in (process_name, host, run_id))):
        raise RejectedPayload("malformed batch header")
    if not (type(id_prefix) is str and _ID_PREFIX.fullmatch(id_prefix)):
        raise RejectedPayload("malformed call id prefix")
    if not set(map(type, records)) <= {tuple}:
        raise RejectedPayload("malformed record")
    try:  # each distinct (kind, length) once: a batch holds one or two
        shapes = set(zip(map(itemgetter(0), records), map(len, records)))
    except (IndexError, TypeError):  # an empty record, or a kind that cannot be hashed
        raise RejectedPayload("malformed record") from None
    if not all(type(kind) is int and _ARITY.get(kind) == length for kind, length in shapes):
        raise RejectedPayload("malformed record")
    if calls != ():
        _check_columns(calls)
    return Batch(meta, records, seq, calls)


def _check_columns(calls: Any) -> None:
    """Call columns are a tuple of one tuple per field of CALL_FIELDS, all of one length > 0; those of
    CALL_NUMBERS may be bytes of 8 per record instead."""
    if not (type(calls) is tuple and len(calls) == len(CALL_FIELDS) and type(calls[0]) is tuple):
        raise RejectedPayload("malformed call columns")
    count = len(calls[0])
    if not count or not all(
        (type(column) is tuple and len(column) == count)
        or (type(column) is bytes and len(column) == 8 * count and index in CALL_NUMBERS)
        for index, column in enumerate(calls)
    ):
        raise RejectedPayload("malformed call columns")


# -- the handshake: both sides prove they hold the run's key, within a time limit ---------------------


def connect(address: Any, authkey: bytes, timeout: float, send_timeout: float = 0.0) -> connection.Connection:
    """A connection to the collector, opened and authenticated within `timeout` seconds; with
    `send_timeout`, a send that cannot go on for that long fails instead of blocking. OSError, EOFError
    or AuthenticationError if it fails."""
    started = time.monotonic()
    conn = _open(address, timeout)
    try:
        with time_limit(conn, max(timeout - (time.monotonic() - started), 0.001)):
            connection.answer_challenge(conn, authkey)
            connection.deliver_challenge(conn, authkey)
        if send_timeout:
            _set_limits(conn, 0.0, send_timeout)
    except BaseException:
        conn.close()
        raise
    return conn


def _open(address: str | tuple[str, int], timeout: float) -> connection.Connection:
    """A socket connected to `address` within `timeout` (a full listen backlog makes a plain connect()
    block without end), wrapped as a multiprocessing Connection."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(address)
        sock.setblocking(True)
        return connection.Connection(sock.detach())
    except BaseException:
        sock.close()
        raise


def admit(conn: connection.Connection, authkey: bytes, timeout: float) -> None:
    """The collector's side of the handshake, within `timeout` seconds (AuthenticationError, OSError)."""
    with time_limit(conn, timeout):
        connection.deliver_challenge(conn, authkey)
        connection.answer_challenge(conn, authkey)


@contextlib.contextmanager
def time_limit(conn: connection.Connection, seconds: float) -> Iterator[None]:
    """Reads and writes on `conn` fail after `seconds` instead of blocking, inside the block."""
    _set_limits(conn, seconds, seconds)
    yield
    _set_limits(conn, 0.0, 0.0)


def _set_limits(conn: connection.Connection, receive: float, send: float) -> None:
    sock = socket.socket(fileno=os.dup(conn.fileno()))
    try:
        for option, seconds in ((socket.SO_RCVTIMEO, receive), (socket.SO_SNDTIMEO, send)):
            whole = int(seconds)
            sock.setsockopt(socket.SOL_SOCKET, option, struct.pack("ll", whole, int((seconds - whole) * 1e6)))
    finally:
        sock.close()
