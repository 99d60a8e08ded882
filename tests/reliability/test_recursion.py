"""Deep recursion through @Timer fails with RecursionError, never a segfault, even with the recursion limit
raised far past what the C stack holds (0b19303: a segfault at about 7,200 levels, no row, no error)."""

from __future__ import annotations

import resource
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import run_program

PROGRAM = """
import json, sys
import mpmon
from mpmon import testing

sys.setrecursionlimit(1_000_000)

@mpmon.Timer(log_to_console=False)
def one(n):
    return 0 if n == 0 else 1 + one(n - 1)

class Walker:
    @mpmon.Timer(log_to_console=False)
    def walk(self, n, step=1):
        return 0 if n == 0 else 1 + self.walk(n - step, step=step)

deepest = {}
with testing.capture_records() as records:
    for name, f in (("one", one), ("method", Walker().walk)):
        depth = 0
        try:
            f(200_000)
        except RecursionError:
            pass
        for depth in (1000, 2000, 4000, 6000, 8000, 9000, 9500):  # how deep it does go
            try:
                f(depth)
                deepest[name] = depth
            except RecursionError:
                break
print(json.dumps({"deepest": deepest, "rows": len(records.calls)}))
"""


@pytest.mark.slow
@pytest.mark.skipif(
    resource.getrlimit(resource.RLIMIT_STACK)[0] != 8 << 20, reason="depths measured for an 8 MiB stack"
)
def test_a_decorated_recursion_past_the_c_stack_raises_recursion_error(
    tmp_path: Path, report: Callable[..., None]
) -> None:
    """200,000 levels with the limit at 1,000,000: RecursionError (caught by the program, which goes on),
    then the deepest depth that works: 9,500 for a one-argument function, 6,000 for a method."""
    run = run_program(tmp_path, PROGRAM, timeout=180, check=False)
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    result = run.result()
    assert result["deepest"] == {"one": 9500, "method": 6000}, result
    report("recursion 200,000 deep, limit 1,000,000", result["rows"], 0, run.seconds, **result["deepest"])
