"""Caller-side cost of `@Timer`, this checkout against another (the base of a change), side by side.

    python -m benchmarks.caller_cost [--against PATH] [--rounds N]

Each round runs, in fresh interpreters and alternating, this checkout's mpmon and the one at PATH: a no-op
function under `@Timer` (with and without resource tracking) and a hook pair, with the sender armed by hand
and its buffer never flushed, so no collector is involved: the caller alone. Prints the median over rounds
of each side's median (us per call, an empty call's loop subtracted) and the difference.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = r"""
import json, statistics, timeit
import mpmon
try:
    from mpmon.state import sender
    sender.ready, sender.limit = True, 1 << 60          # armed by hand: no collector, never flushed
except ImportError:
    from mpmon.sender import sender
    sender.limit, sender.deadline_ns = 1 << 60, 1 << 62

@mpmon.Timer(log_to_console=False)
def timed():
    pass

@mpmon.Timer(log_to_console=False, track_resources=False)
def lean():
    pass

def hooks():
    mpmon.get_metrics_end(mpmon.get_metrics_start())

def us(function, number=200_000):
    result = statistics.median(timeit.repeat(function, number=number, repeat=5)) / number * 1e6
    sender.buffer.clear()
    return result

empty = us(lambda: None)
print(json.dumps({"timer": us(timed) - empty, "timer_lean": us(lean) - empty, "hooks": us(hooks) - empty}))
"""


def measure(root: Path) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPMON_")}
    env["PYTHONPATH"] = str(root)
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, required=True, help="checkout to compare with (the base)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"base": [], "this": []}
    for _ in range(args.rounds):
        runs["base"].append(measure(args.against))
        runs["this"].append(measure(ROOT))
    print(f"us per call, median of {args.rounds} alternating rounds (each a median of 5 x 200,000 calls)")
    print(f"  {'':12s} {'base':>8s} {'this':>8s} {'diff':>8s}")
    for key in ("timer", "timer_lean", "hooks"):
        base = statistics.median(r[key] for r in runs["base"])
        this = statistics.median(r[key] for r in runs["this"])
        print(f"  {key:12s} {base:8.3f} {this:8.3f} {this - base:+8.3f}")


if __name__ == "__main__":
    main()
