"""What the per-process flusher thread costs the calls of its process.

    python -m benchmarks.flusher_cost [--rounds N] [--calls N]

Each round runs, in fresh interpreters and alternating, one process that starts a collector and makes
`--calls` no-op `@Timer` calls in a loop, with the flusher (as shipped) and with the flusher switched off
(batches then leave only when full). Prints the median over rounds of the loop's us per call, and the
difference: the flusher's cost per call (its sends happen off the calling thread, but share the GIL).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = r"""
import json, sys, time
import mpmon
from mpmon.sender import Sender
if sys.argv[1] == "off":
    Sender._start_flusher = lambda self: None

@mpmon.Timer(log_to_console=False)
def noop():
    pass

mpmon.start_collector(sys.argv[3], log_to_console=False)
noop()
calls = int(sys.argv[2])
started = time.perf_counter()
for _ in range(calls):
    noop()
seconds = time.perf_counter() - started
mpmon.stop_collector()
print(json.dumps(seconds / calls * 1e6))
"""


def measure(mode: str, calls: int) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPMON_")}
    env["PYTHONPATH"] = str(ROOT)
    with tempfile.TemporaryDirectory() as logs:
        done = subprocess.run(
            [sys.executable, "-c", PROBE, mode, str(calls), logs],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return float(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=300_000)
    args = parser.parse_args()
    on, off = [], []
    for _ in range(args.rounds):
        on.append(measure("on", args.calls))
        off.append(measure("off", args.calls))
    a, b = statistics.median(on), statistics.median(off)
    print(f"us per @Timer call with a collector, median of {args.rounds} alternating rounds x {args.calls:,}")
    print(f"  flusher on  {a:8.3f}\n  flusher off {b:8.3f}\n  difference  {a - b:+8.3f}")


if __name__ == "__main__":
    main()
