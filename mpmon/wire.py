"""What travels from a process to the collector: raw records as flat tuples of plain values, in batches.

A process does no formatting: it packs the numbers it measured into a tuple and the collector turns
them into rows and lines. A batch is pickled, but decoded by an unpickler that refuses every global,
so whatever a peer sends, only str, bytes, int, float, bool, None, tuples, lists and dicts come out:
no class is ever looked up and no code runs.
"""

from __future__ import annotations

import io
import pickle
import re
from typing import Any, Final

__all__ = [
    "CALL",
    "CALL_FIELDS",
    "ERROR",
    "ERROR_FIELDS",
    "LOG",
    "LOG_FIELDS",
    "META_FIELDS",
    "STOP",
    "STOPPED",
    "RejectedPayload",
    "decode_batch",
    "encode_batch",
]

# Control messages, sent as raw bytes (a batch is a pickle and always starts with b"\x80").
STOP: Final = b"stop"
STOPPED: Final = b"stopped"

# Record kinds: the first item of every record tuple.
CALL: Final = 0
ERROR: Final = 1
LOG: Final = 2

# Field order of each kind (the kind itself comes first and is not listed).
CALL_FIELDS: Final = (
    "source",  # "timer" or "hook"
    "function",
    "module",
    "call_no",  # this process's counter; with the batch's id prefix it makes the call_id
    "parent_no",  # 0 when there is no enclosing monitored call
    "start_ns",  # time.time_ns() at start
    "duration_ns",  # perf_counter_ns() difference
    "cpu_ns",  # process CPU time difference, -1 when not tracked
    "rss_before",  # raw RSS (probe.rss_raw: a /proc statm line or an int of bytes), -1 when not tracked
    "rss_after",  # the same, after the call
    "thread_name",
    "error_type",  # "" when the call returned
    "args",  # (positional reprs, ((name, repr), ...)) or None
    "route",  # (log_to_console, log_to_file, results_format), each None when unset
)
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
# Each batch starts with these, shared by all its records.
META_FIELDS: Final = ("pid", "process_name", "host", "id_prefix", "run_id")

_ID_PREFIX: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-")
_ARITY: Final = {CALL: len(CALL_FIELDS) + 1, ERROR: len(ERROR_FIELDS) + 1, LOG: len(LOG_FIELDS) + 1}


class RejectedPayload(ValueError):
    """A received batch that is not a well-formed mpmon batch of plain values."""


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles plain values only: any reference to a global (class, function) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise RejectedPayload(f"payload refers to the global {module}.{name}")


def encode_batch(meta: tuple[Any, ...], records: list[tuple[Any, ...]]) -> bytes:
    """One batch as bytes for Connection.send_bytes."""
    return pickle.dumps((meta, records), protocol=pickle.HIGHEST_PROTOCOL)


def decode_batch(payload: bytes) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    """The (meta, records) of a batch; RejectedPayload if it is anything else."""
    try:
        batch = _PlainUnpickler(io.BytesIO(payload)).load()
    except RejectedPayload:
        raise
    except Exception as exc:
        raise RejectedPayload(f"undecodable payload: {exc!r}") from None
    if not (isinstance(batch, tuple) and len(batch) == 2):
        raise RejectedPayload("a batch is a (meta, records) pair")
    meta, records = batch
    if not (isinstance(meta, tuple) and len(meta) == len(META_FIELDS) and isinstance(records, list)):
        raise RejectedPayload("malformed batch header")
    pid, process_name, host, id_prefix, run_id = meta
    if not (type(pid) is int and all(type(t) is str for t in (process_name, host, run_id))):
        raise RejectedPayload("malformed batch header")
    if not (type(id_prefix) is str and _ID_PREFIX.fullmatch(id_prefix)):
        raise RejectedPayload("malformed call id prefix")
    for record in records:
        if not (isinstance(record, tuple) and record and _arity(record[0]) == len(record)):
            raise RejectedPayload("malformed record")
    return meta, records


def _arity(kind: object) -> int:
    return _ARITY.get(kind, -1) if type(kind) is int else -1
