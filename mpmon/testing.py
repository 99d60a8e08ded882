"""Helpers for testing code that uses mpmon: see what was recorded without a collector process.

    from mpmon.testing import capture_records

    def test_work_is_timed():
        with capture_records() as records:
            work(3)
        (call,) = records.calls
        assert call.function == "work" and call.error_type == ""

Inside the block every record of this process goes, at once, to memory instead of a collector (no files,
no sockets, no background thread); `records` is a list of named tuples, one per record, with the batch's
process fields (`pid`, `process_name`, `host`, `run_id`) and the record's own (`wire.CALL_FIELDS`,
`ERROR_FIELDS`, `LOG_FIELDS`). Times and sizes are raw: `duration_ns`, `cpu_ns` (-1 when not tracked).
Records of other processes (pool workers) are not captured: test those with a real collector.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .state import sender
from .transport import MemoryTransport
from .wire import CALL, CALL_FIELDS, ERROR, ERROR_FIELDS, LOG, LOG_FIELDS, META_FIELDS

__all__ = ["CapturedRecords", "capture_records"]

_KINDS = {CALL: ("call", CALL_FIELDS), ERROR: ("error", ERROR_FIELDS), LOG: ("log", LOG_FIELDS)}
_TYPES = {
    kind: namedtuple(f"Captured{name.title()}", ("kind", *META_FIELDS, *fields))
    for kind, (name, fields) in _KINDS.items()
}


class CapturedRecords(list[Any]):
    """The records captured so far, in the order they were made; `calls`, `errors`, `logs` by kind."""

    def __init__(self, memory: MemoryTransport) -> None:
        super().__init__()
        self._memory = memory
        self._taken = 0

    def _take(self) -> None:
        """Decode what reached memory since the last look."""
        for meta, batch, _seq in self._memory.batches[self._taken :]:
            for record in batch:
                kind = record[0]
                if kind in _TYPES:
                    self.append(_TYPES[kind](_KINDS[kind][0], *meta, *record[1:]))
        self._taken = len(self._memory.batches)

    def __len__(self) -> int:
        self._take()
        return super().__len__()

    def __iter__(self) -> Iterator[Any]:
        self._take()
        return super().__iter__()

    def __getitem__(self, index: Any) -> Any:
        self._take()
        return super().__getitem__(index)

    def of_kind(self, kind: str) -> list[Any]:
        """The records of one kind: "call", "error" or "log"."""
        return [r for r in self if r.kind == kind]

    @property
    def calls(self) -> list[Any]:
        """CALL records (Timer and hook rows)."""
        return self.of_kind("call")

    @property
    def errors(self) -> list[Any]:
        """ERROR records (ErrorCatcher)."""
        return self.of_kind("error")

    @property
    def logs(self) -> list[Any]:
        """LOG records (captured `logging` lines)."""
        return self.of_kind("log")


@contextmanager
def capture_records() -> Iterator[CapturedRecords]:
    """Capture every record this process makes inside the block (see the module's docstring)."""
    memory = MemoryTransport()
    captured = CapturedRecords(memory)
    with sender.diverted(memory):
        try:
            yield captured
        finally:
            captured._take()
    captured._take()
