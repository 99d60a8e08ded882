"""Deep recursion through a decorated function goes at least as deep as through a plain closure decorator,
and past that fails with RecursionError, never a segfault, even with the recursion limit raised far past
what the C stack holds (0b19303: a segfault at about 7,200 levels; 94da14e: RecursionError at 9,500 levels
for @Timer, where a plain closure decorator went 22,000 deep)."""

from __future__ import annotations

import resource
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import run_program

PROGRAM = """
import json, os, sys
import mpmon
from mpmon import testing

LIMIT = 100_000
sys.setrecursionlimit(LIMIT)

def closure(f):  # the plain closure decorator: the depth to reach
    def w(*a, **k):
        return f(*a, **k)
    return w

def one_arg(deco):
    @deco
    def f(n):
        return 0 if n == 0 else 1 + f(n - 1)
    return f

def method(deco):
    class Walker:
        @deco
        def walk(self, n, step=1):
            return 0 if n == 0 else 1 + self.walk(n - step, step=step)
    return Walker().walk

def odd_keyword(deco):  # a keyword that is not an identifier: the call cannot be written out
    @deco
    def f(n, **kw):
        return 0 if n == 0 else 1 + f(n - 1, **{"not an identifier": 1})
    return f

timer = mpmon.Timer(log_to_console=False)
catcher = mpmon.ErrorCatcher(log_to_console=False)
CASES = {  # the shape of the recursion, the decorators, the closures to compare with
    "timer": (one_arg, timer, closure),
    "error_catcher": (one_arg, catcher, closure),
    "stacked": (one_arg, lambda f: catcher(timer(f)), lambda f: closure(closure(f))),
    "method": (method, timer, closure),
    "odd_keyword": (odd_keyword, timer, closure),
}

def survives(f, depth):
    # In a forked child (same recursion limit, same main-thread stack): True if f(depth) returns.
    pid = os.fork()
    if pid == 0:
        try:
            f(depth)
        except BaseException:
            os._exit(1)
        os._exit(0)
    return os.waitpid(pid, 0)[1] == 0

def closure_depth(f, low=1000, high=LIMIT):  # the deepest it goes, within 200 levels
    while high - low > 200:
        middle = (low + high) // 2
        low, high = (middle, high) if survives(f, middle) else (low, middle)
    return low

def outcome(f, depth):
    with testing.capture_records() as records:
        try:
            f(depth)
            result = "ok"
        except RecursionError:
            result = "RecursionError"
    return result, len(records.calls)

found = {}
for name, (make, deco, twin) in CASES.items():
    plain = closure_depth(make(twin))
    decorated = make(deco)
    at_plain, rows = outcome(decorated, plain)
    found[name] = {"closure": plain, "at_closure_depth": at_plain, "rows": rows}
    if name in ("timer", "method", "odd_keyword"):  # not the catchers: each level renders a traceback
        found[name]["past"] = outcome(decorated, 200_000)[0]
print(json.dumps(found))
"""


@pytest.mark.slow
@pytest.mark.skipif(
    resource.getrlimit(resource.RLIMIT_STACK)[0] != 8 << 20, reason="depths measured for an 8 MiB stack"
)
def test_a_decorated_recursion_goes_as_deep_as_a_closure_then_raises_recursion_error(
    tmp_path: Path, report: Callable[..., None]
) -> None:
    """With the limit at 100,000, a plain closure decorator's deepest recursion (found in forked children:
    past it, a segfault) is reached by @Timer, @ErrorCatcher, both stacked and a method called with a
    keyword, each level a row; 200,000 levels raise RecursionError and the program goes on. A call that
    cannot be written out (a keyword that is no identifier) counts its C stack: RecursionError too."""
    run = run_program(tmp_path, PROGRAM, timeout=600, check=False)
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    found = run.result()
    for name, case in found.items():
        assert case["closure"] > 8_000, (name, case)  # the closures' C stack ran out: a deep recursion
        if name != "odd_keyword":
            assert case["at_closure_depth"] == "ok", (name, case)
        if name in ("timer", "stacked", "method"):  # each level one row
            assert case["rows"] == case["closure"] + 1, (name, case)
        if "past" in case:
            assert case["past"] == "RecursionError", (name, case)
    depths = {f"{name}_closure": case["closure"] for name, case in found.items()}
    report(
        "recursion past a closure's depth, limit 100,000", found["timer"]["rows"], 0, run.seconds, **depths
    )
