"""Section 4: what ``import mpmon`` costs a fresh interpreter, and that it pulls in no heavy package.

Each figure is a fresh ``python -c ...`` minus a fresh ``python -c pass`` (the interpreter's own start),
alternated, median over the repetitions. The baseline is ``import pandas, psutil``: what the original
single-process module paid at import.
"""

from __future__ import annotations

import json
import subprocess
import sys
from time import perf_counter

from benchmarks.core import Row, Settings, at_most, median, mpmon_missing, unavailable

SECTION = "4 import"
HEAVY = ("pandas", "pyarrow", "matplotlib", "numpy")
PROBE = "import json, sys; {stmt}; print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"


def wall(code: str) -> float:
    """Seconds for a fresh interpreter to run code and exit."""
    start = perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return perf_counter() - start


def import_ms(statement: str, reps: int) -> float:
    """Median milliseconds a statement adds to a fresh interpreter's start (python -c pass subtracted)."""
    wall("pass")  # the first start warms the OS file cache
    return median([(wall(statement) - wall("pass")) * 1e3 for _ in range(reps)])


def heavy_modules(statement: str) -> list[str]:
    """The heavy packages found in sys.modules after the statement, in a fresh interpreter."""
    code = PROBE.format(stmt=statement, heavy=HEAVY)
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    found: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def run(settings: Settings) -> list[Row]:
    """``import mpmon`` against ``import pandas, psutil``; fails the target if a heavy package is loaded."""
    reps = max(settings.reps, 7)
    measure, target = "import mpmon, fresh interpreter", "< 50 ms, no pandas/pyarrow/matplotlib"
    baseline = import_ms("import pandas, psutil", reps)
    missing = mpmon_missing()
    if missing:
        return [unavailable(SECTION, measure, "ms", missing, target)]
    value = import_ms("import mpmon", reps)
    on_import = heavy_modules("import mpmon")
    api = "from mpmon import Timer, ErrorCatcher, start_collector, get_metrics_start"
    on_api = heavy_modules(api)
    note = f"heavy modules after import mpmon: {on_import or 'none'}; after `{api}`: {on_api or 'none'}"
    row = Row(
        SECTION, measure, value, "ms", "import pandas, psutil (original module)", baseline, target, note=note
    )
    row.passed = bool(at_most(value, 50)) and not {"pandas", "pyarrow", "matplotlib"} & set(on_import)
    return [row]
