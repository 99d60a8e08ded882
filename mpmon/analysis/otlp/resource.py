"""What each host of a run ran, from its ``run_start`` line: the resource attributes beyond host and pid.

The collector records in ``run_start`` the name of the script that started it and that program's Python
runtime (``mpmon.schema.RUN_START_PROGRAM_KEYS``). They become ``service.name`` (the default; a name the
user gives wins) and ``process.runtime.name``, ``process.runtime.version``,
``process.runtime.description``, ``process.executable.name`` on every resource of that (run, host). The
run's tag rides along as ``mpmon.tag``. Logs written by an older mpmon lack them: their resources keep
the fallback service name and carry no runtime.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

from mpmon import schema

__all__ = ["RUNTIME_KEYS", "SERVICE_NAME", "TAG", "Programs", "programs"]

SERVICE_NAME = "service.name"
TAG = "mpmon.tag"
RUNTIME_KEYS: tuple[str, ...] = (
    schema.RUNTIME_NAME, schema.RUNTIME_VERSION, schema.RUNTIME_DESCRIPTION, schema.EXECUTABLE_NAME,
)  # fmt: skip

Programs: TypeAlias = Mapping[tuple[str, str | None], Mapping[str, str]]
"""Resource attributes by ``(run_id, host)``; ``(run_id, None)`` holds what applies to every host of the
run that wrote no run_start line of its own (its service name and tag, not a runtime)."""


def programs(events: Iterable[Mapping[str, Any]], *, name_service: bool = True) -> Programs:
    """The attributes of each (run, host) from its first ``run_start`` line; ``name_service=False`` when
    the user named the service (then no ``service.name`` comes from the logs)."""
    found: dict[tuple[str, str | None], dict[str, str]] = {}
    for event in events:
        if event.get("event") != schema.RUN_START_EVENT or not event.get("run_id"):
            continue
        run_id, host = str(event["run_id"]), str(event.get("host") or "")
        if (run_id, host) in found:
            continue
        attributes = {}
        script = _text(event.get(schema.RUN_START_SCRIPT))
        if script and name_service:
            attributes[SERVICE_NAME] = script
        attributes.update((key, value) for key in RUNTIME_KEYS if (value := _text(event.get(key))))
        if tag := _text(event.get("tag")):
            attributes[TAG] = tag
        found[(run_id, host)] = attributes
        whole_run = found.setdefault((run_id, None), {})
        for key in (SERVICE_NAME, TAG):
            if key in attributes:
                whole_run.setdefault(key, attributes[key])
    return found


def _text(value: object) -> str:
    """A string field of the line, or ``""`` when absent or not a string."""
    return value if isinstance(value, str) else ""
