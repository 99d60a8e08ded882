"""Hostile input: whatever a monitored function is given or raises, it behaves exactly as without mpmon,
and whatever text it carries, the files stay well formed and give the text back.
"""

from __future__ import annotations

import json
from pathlib import Path

from helpers import assert_every_file_parses, call_lines, log_family, results, run_program
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpmon import sanitizers, schema

BATTERY = r"""
import asyncio, gc, json, os, socket, sys, threading, time, tracemalloc
import multiprocessing as mp
import mpmon

class BadRepr:
    def __repr__(self):
        raise RuntimeError("repr refuses")

class NotText:
    def __repr__(self):
        return 42

class BadStr(Exception):
    def __str__(self):
        raise RuntimeError("str refuses")

def echo(*args, **kwargs):
    return args[0] if args else kwargs

def fail(exc):
    raise exc

def numbers(n):
    received = yield "first"
    for i in range(n):
        received = yield (i, received)
    return "returned"

async def later(value):
    await asyncio.sleep(0)
    return value

async def stream(n):
    for i in range(n):
        await asyncio.sleep(0)
        yield i

def wrappers(func):
    timer = mpmon.Timer(log_to_console=False)
    catcher = mpmon.ErrorCatcher(log_to_console=False)
    return {"timer": timer(func), "catcher": catcher(func), "both": catcher(timer(func))}

def hostile_args():
    recursive_list = []
    recursive_list.append(recursive_list)
    recursive_dict = {}
    recursive_dict["self"] = recursive_dict
    nested = []
    for _ in range(5000):
        nested = [nested]
    sock = socket.socket()
    return {
        "raising __repr__": BadRepr(),
        "__repr__ not a str": NotText(),
        "recursive list": recursive_list,
        "recursive dict": recursive_dict,
        "deeply nested": nested,
        "lock": threading.Lock(),
        "socket": sock,
        "non-UTF-8 bytes": b"\xff\xfe\x00\x80 not utf-8",
        "lone surrogate": "\udcff\ud800 text",
        "generator": (i for i in range(3)),
    }, sock

def battery():
    failures, timed = [], 0
    monitored = wrappers(echo)
    args, sock = hostile_args()
    for label, value in args.items():
        for kind, func in monitored.items():
            try:
                if func(value) is not value or func(x=value) != {"x": value}:
                    failures.append(f"{kind} changed the result for {label}")
            except BaseException as exc:
                failures.append(f"{kind} raised {exc!r} for {label}")
            timed += 2 * (kind != "catcher")  # ErrorCatcher alone makes no row
    sock.close()
    for label, exc in {"KeyboardInterrupt": KeyboardInterrupt(), "SystemExit": SystemExit(3),
                       "raising __str__": BadStr(), "ValueError": ValueError("plain")}.items():
        for kind, func in wrappers(fail).items():
            try:
                func(exc)
            except BaseException as caught:
                if caught is not exc:
                    failures.append(f"{kind} replaced {label} with {caught!r}")
            else:
                failures.append(f"{kind} swallowed {label}")
            timed += kind != "catcher"
    def drive(gen):
        got = [next(gen)] + [gen.send(i) for i in range(3)]
        try:
            gen.send("end")
        except StopIteration as stop:
            got.append(stop.value)
        return got
    for kind, func in wrappers(numbers).items():
        if drive(func(3)) != drive(numbers(3)):
            failures.append(f"{kind} changed a generator: {drive(func(3))}")
        early = func(10)
        next(early)
        early.close()
        timed += 2 * (kind != "catcher")
    for kind, func in wrappers(later).items():
        if asyncio.run(func("value")) != "value":
            failures.append(f"{kind} changed a coroutine")
        timed += kind != "catcher"
    async def drain(agen):
        return [i async for i in agen]
    timer_stream = mpmon.Timer(log_to_console=False)(stream)
    if asyncio.run(drain(timer_stream(4))) != [0, 1, 2, 3]:
        failures.append("timer changed an async generator")
    timed += 1
    return failures, timed

def huge_arguments():
    # 200 MB of text and of bytes: rendering stays bounded in time and memory
    failures, timed = [], 0
    big_text = "x" * (200 * 1024 * 1024)
    big_bytes = [b"y" * (200 * 1024 * 1024)]
    for label, value, limit in (("200 MB str", big_text, None), ("200 MB str, max 50", big_text, 50),
                                ("200 MB bytes in a list", big_bytes, None)):
        func = mpmon.Timer(log_to_console=False, max_arg_length=limit)(echo)
        gc.collect()
        tracemalloc.start()
        started = time.perf_counter()
        result = func(value)
        took = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        timed += 1
        if result is not value:
            failures.append(f"{label}: result changed")
        if took > 0.5 or peak > 8 * 1024 * 1024:
            failures.append(f"{label}: took {took:.3f} s and {peak / 2**20:.1f} MiB")
    return failures, timed

def in_worker(_):
    failures, timed = battery()
    more, timed_more = huge_arguments()
    mpmon.flush()
    return failures + more, timed + timed_more

if __name__ == "__main__":
    mpmon.start_collector(sys.argv[1], log_to_console=False)
    failures, timed = battery()
    more, timed_more = huge_arguments()
    failures += more
    timed += timed_more
    with mp.get_context(sys.argv[2]).Pool(1) as pool:
        worker_failures, worker_timed = pool.map(in_worker, [0])[0]
    mpmon.stop_collector()
    print(json.dumps({"failures": failures + worker_failures, "timed": timed + worker_timed}))
"""


def test_hostile_arguments_and_exceptions_never_change_what_a_call_returns_or_raises(
    tmp_path: Path, report
) -> None:
    """Raising reprs, recursion, locks, sockets, bad bytes, 200 MB, BaseExceptions, generators, async."""
    logs = tmp_path / "logs"
    run = run_program(tmp_path, BATTERY, logs, "spawn", timeout=120, check=False)
    run.assert_ok()
    out = run.result()
    assert out["failures"] == []
    rows = results(logs)
    assert len(rows) == out["timed"] and rows["call_id"].is_unique
    assert_every_file_parses(logs)
    rendered = " ".join(rows["args"])
    assert "<BadRepr " in rendered and "<NotText " in rendered  # a placeholder naming the type
    assert max(map(len, rows["args"])) < 2000, "an argument's text was not bounded"
    errors = [e for e in log_family(logs, schema.ERROR_LOG)]
    assert any("<str() of BadStr failed with RuntimeError>" in e["error_message"] for e in errors)
    assert {"KeyboardInterrupt", "SystemExit"} <= set(rows["error_type"])
    caught = {e["error_type"] for e in errors}
    assert not {"KeyboardInterrupt", "SystemExit"} & caught, "ErrorCatcher logs Exception subclasses only"
    report(
        "hostile-argument battery in the owner and a spawn Pool worker",
        records=len(rows),
        lost=out["timed"] - len(rows),
        seconds=run.seconds,
    )


ROUND_TRIP = r"""
import json, logging, sys
import mpmon

texts = json.load(open(sys.argv[2], encoding="utf-8"))

@mpmon.Timer(log_to_console=False, results_format="csv")
def to_csv(text, note=None):
    return text

@mpmon.Timer(log_to_console=False, results_format="parquet")
def to_parquet(text, note=None):
    return text

@mpmon.ErrorCatcher(log_to_console=False)
def failing(text):
    raise ValueError(text)

if __name__ == "__main__":
    mpmon.start_collector(sys.argv[1], log_to_console=False, capture_logging=True)
    logging.getLogger().setLevel(logging.INFO)
    for i, text in enumerate(texts):
        to_csv(text, note=text)
        to_parquet(text, note=text)
        try:
            failing(text)
        except ValueError:
            pass
        logging.getLogger(f"text{i}").warning("%s", text)
    mpmon.stop_collector()
"""

NASTY = [
    "",
    '"',
    "'",
    ",",
    '","',
    "a,b",
    "line\nbreak",
    "cr\rlf\r\n",
    "\x00nul",
    "tab\there",
    "\x1b[31mred\x1b[0m",
    "\u2028\u2029",
    "\ufeffbom",
    "emoji \U0001f600",
    "back\\slash",
    '{"json": [1, 2]}',
    "é" * 700,
    "x" * 600,
    "\udcff lone surrogate",
    "quote \"inside\" 'both'",
    "trailing space ",
    "=cmd|' /C calc'!A0",
]
TEXTS = st.lists(
    st.one_of(
        st.sampled_from(NASTY),
        st.text(max_size=60),
        st.text(st.characters(exclude_categories=()), max_size=20),  # surrogates included
    ),
    min_size=1,
    max_size=20,
)


def expected_arg(text: str, limit: int = 500) -> str:
    """The text mpmon keeps of a string argument: its repr, cut to max_arg_length with '...'."""
    shown = repr(text[: limit + 1])
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


@settings(max_examples=5, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=TEXTS)
def test_any_text_round_trips_through_csv_json_logs_and_parquet(tmp_path_factory, texts: list[str]) -> None:
    """Arguments, exception messages, tracebacks and log lines come back exactly, whatever they hold."""
    directory = tmp_path_factory.mktemp("round-trip")
    (directory / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
    logs = directory / "logs"
    run_program(directory, ROUND_TRIP, logs, directory / "texts.json", timeout=60, check=False).assert_ok()
    assert_every_file_parses(logs)
    rows = results(logs)
    for function in ("to_csv", "to_parquet"):
        kept = [json.loads(a) for a in rows.loc[rows["function"] == function, "args"]]
        assert [k["args"][0] for k in kept] == [expected_arg(t) for t in texts]
        assert [k["kwargs"]["note"] for k in kept] == [expected_arg(t) for t in texts]
    lines = call_lines(logs)
    for function in ("to_csv", "to_parquet"):  # timing.log keeps each function's calls in order
        kept = [json.loads(c["args"])["args"][0] for c in lines if c["function"] == function]
        assert kept == [expected_arg(t) for t in texts]
    errors = log_family(logs, schema.ERROR_LOG)
    assert [e["error_message"] for e in errors] == texts
    for entry, text in zip(errors, texts):
        assert entry["traceback"].endswith(f"ValueError: {text}\n" if text else "ValueError\n")
    captured = {
        e["logger"]: e["message"] for e in log_family(logs, schema.TIMING_LOG) if e.get("event") == "log"
    }
    assert [captured[f"text{i}"] for i in range(len(texts))] == [sanitizers.default(t) for t in texts]
