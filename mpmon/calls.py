"""One way in and one way out for every monitored call: begin() -> the call -> finish() -> record_call().

Every form of measurement goes through here: Timer's stacked and start/stop/`with` forms, the
coroutine and generator wrappers (lazy.py) and the manual hooks (hooks.py). Only Timer's plain call
keeps an inline copy of these steps for speed (decorators.py), tested to build the very same tuple.

The probes nest the CPU window inside the timed window: RSS, perf counter, CPU at the start; CPU, perf
counter, RSS at the end. A call's wall start is its perf counter start plus the process's offset
(`Sender.wall_offset`), so a process's calls all lie on the one clock and a nested call never ends after
its parent. Whatever the kernel
charges to the process in the CPU window (an interrupt, a stolen slice of a VM) is then inside the
timed window too, so a single-threaded call's CPU time never exceeds its duration. CPU time is the whole
process's, so values above the duration mean other threads of the process worked meanwhile.
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

from . import environment
from .probe import cpu_ns, perf_counter_ns, rss_raw, time_ns
from .render import Sanitizer, render_args
from .run.control import autostart
from .state import sender, stack
from .wire import ERROR, call_record

__all__ = ["Begun", "arm", "begin", "finish", "record_call", "record_error", "rendered_args"]

_current_thread = threading.current_thread


class Begun(NamedTuple):
    """What `begin()` measured at a call's start (cpu_ns and rss are -1 when resources are not tracked)."""

    call_no: int
    parent: int
    pushed: bool  # the call became the thread's current call (its parent is restored at its end)
    start_ns: int
    perf_ns: int
    cpu_ns: int
    rss: bytes | int


def arm() -> None:
    """Make this process ready to record (at its first record): maybe a collector, the exit flushes, the
    flusher; outside any call's clocks."""
    sender.prepare(_start_implicitly)


def _start_implicitly() -> None:
    """The collector a top-level program starts at its first record: in ./logs, or, in the client of a
    monitored Dask cluster (mpmon.dask.Monitor), in that run's directory for this host, so that the
    client's own calls join the cluster's run instead of making a run of their own. Never raises (see
    control.autostart)."""
    joined = environment.cluster_run()
    if joined is None:
        autostart()
        return
    log_dir, run_id = joined
    autostart(log_dir, run_id=run_id)


def begin(track: bool, call_no: int = 0, push: bool = True) -> Begun:
    """Start a call: number it (unless `call_no` is given), make it the thread's current call if `push`,
    then probe RSS, the perf counter and CPU, in that order."""
    if not sender.ready:
        arm()
    call_no = call_no or next(sender.counter)
    parent = stack.current
    if push:
        stack.current = call_no
    if not track:
        t0 = perf_counter_ns()
        return Begun(call_no, parent, push, t0 + sender.wall_offset, t0, -1, -1)
    rss0 = rss_raw()
    t0 = perf_counter_ns()
    return Begun(call_no, parent, push, t0 + sender.wall_offset, t0, cpu_ns(), rss0)


def stop_clocks(begun: Begun) -> tuple[int, int]:
    """The perf counter at a call's end and its raw CPU-clock difference (-1 when not tracked), CPU first:
    what `finish()` takes as `ended` from callers that must stop the clocks before other work."""
    if begun.cpu_ns < 0:
        return perf_counter_ns(), -1
    cpu = cpu_ns() - begun.cpu_ns
    return perf_counter_ns(), cpu


def finish(
    begun: Begun,
    source: str,
    name: str,
    module: str,
    error_type: str = "",
    rendered: Any = None,
    route: tuple[Any, ...] = (None, None, None),
    ended: tuple[int, int] | None = None,
) -> tuple[Any, ...]:
    """End a call that `begin()` started: CPU, the clock (unless `ended`, what `stop_clocks()` returned,
    is given), then RSS; then record it. Returns the record."""
    t1, cpu = ended or stop_clocks(begun)
    rss1 = rss_raw() if cpu >= 0 else -1
    if begun.pushed:
        stack.current = begun.parent
    return record_call(begun, t1, cpu, rss1, source, name, module, error_type, rendered, route)


def record_call(
    begun: Begun,
    t1: int,
    cpu: int,
    rss1: bytes | int,
    source: str,
    name: str,
    module: str,
    error_type: str,
    rendered: Any,
    route: tuple[Any, ...],
) -> tuple[Any, ...]:
    """The one way out: build the CALL record (wire.call_record) and hand it to the sender's flush rule."""
    record = call_record(source, name, module, begun.call_no, begun.parent, begun.start_ns,
                         t1 - begun.perf_ns, cpu, begun.rss, rss1, _current_thread().name, error_type,
                         rendered, route)  # fmt: skip
    sender.add(record, begun.parent)
    return record


def rendered_args(
    args: tuple[Any, ...], kwargs: dict[str, Any], max_arg_length: int | None, sanitize: Sanitizer | None
) -> Any:
    """The args field of a call: None for a call without arguments."""
    return render_args(args, kwargs, max_arg_length, sanitize) if args or kwargs else None


def record_error(
    name: str, module: str, call_no: int, error_type: str, message: str, trace: str, rendered: Any,
    route: tuple[Any, ...],
) -> None:  # fmt: skip
    """Hand an ERROR record to the collector at once (errors are never left waiting in the buffer)."""
    if not sender.ready:
        arm()
    record = (ERROR, name, module, call_no, time_ns(), _current_thread().name, error_type, message, trace,
              rendered, route)  # fmt: skip
    sender.buffer.append(record)
    sender.overflow()
