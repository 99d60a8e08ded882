"""`@ErrorCatcher` on a call that raises: this checkout against another (the base of a change), side by side.

    python -m benchmarks.catcher_cost --against PATH [--rounds N] [--calls N] [--depths 1000,5000]
    python -m benchmarks.catcher_cost --against PATH --row [--rounds N] [--worker]

Each round runs, in fresh interpreters and alternating, this checkout's mpmon and the one at PATH (through
PYTHONPATH): a collector in a fresh directory, warmed, then `calls` raising calls of a function under
`@ErrorCatcher(log_to_console=False)`, each caught by the loop, then `mpmon.flush()` (section 1's "until
flush()" row), and then `mpmon.stop_collector()`. Per call, after an undecorated raising loop's figures are
subtracted: the caller's wall time until flush() (noisy on a shared machine), its CPU time, and the
collector's CPU time (its process and children, read from /proc by psutil) until the stop returned.
`--depths` also times a recursion of that many levels under `@ErrorCatcher` whose deepest call raises
(one error.log entry per level), until flush(): wall and caller CPU, ms per recursion.
Prints the median over rounds of each side's figure and the ratio this / base.
`--row` runs instead section 1's row "@ErrorCatcher, call raises, until flush()" and its baseline (the
stdlib recipe's logger.exception) with section 1's own code (benchmarks/overhead.py, 5 repetitions), in
the main process or (`--worker`) in a pool worker, each tree in turn.
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
import json, sys, tempfile, time
import psutil
import mpmon

calls, depths = int(sys.argv[1]), [int(d) for d in sys.argv[2].split(",") if d]

def bare():
    raise ValueError("benchmark error")

@mpmon.ErrorCatcher(log_to_console=False)
def caught():
    raise ValueError("benchmark error")

@mpmon.ErrorCatcher(log_to_console=False)
def deep(level):
    if level == 0:
        raise ValueError("bottom")
    return deep(level - 1)

def loop(func, n):
    for _ in range(n):
        try:
            func()
        except ValueError:
            pass

def collector_cpu(pid):
    process = psutil.Process(pid)
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        times = p.cpu_times()
        total += times.user + times.system
    return total

directory = tempfile.mkdtemp(prefix="catcher-cost-")
collector = mpmon.start_collector(directory, log_to_console=False)
loop(caught, 1_000)
mpmon.flush(wait=True)
loop(bare, 1_000)
out = {}
c0, w0 = time.process_time(), time.perf_counter()
loop(bare, calls)
bare_cpu, bare_wall = time.process_time() - c0, time.perf_counter() - w0
k0 = collector_cpu(collector.pid)
c0, w0 = time.process_time(), time.perf_counter()
loop(caught, calls)
mpmon.flush()
cpu, wall = time.process_time() - c0, time.perf_counter() - w0
out["wall_us"] = (wall - bare_wall) / calls * 1e6
out["caller_cpu_us"] = (cpu - bare_cpu) / calls * 1e6
mpmon.flush(wait=True)
out["collector_cpu_us"] = (collector_cpu(collector.pid) - k0) / calls * 1e6
sys.setrecursionlimit(max(sys.getrecursionlimit(), 2 * max(depths, default=0) + 1_000))
for depth in depths:
    c0, w0 = time.process_time(), time.perf_counter()
    try:
        deep(depth)
    except ValueError:
        pass
    mpmon.flush()
    out[f"depth_{depth}_wall_ms"] = (time.perf_counter() - w0) * 1e3
    out[f"depth_{depth}_cpu_ms"] = (time.process_time() - c0) * 1e3
mpmon.stop_collector()
print(json.dumps(out))
"""


ROW = r"""
import json, sys
from benchmarks import overhead
from benchmarks.core import Settings
cases = (overhead.CASES["catcher_raising"], overhead.CASES["stdlib_catch_raising"])
found = overhead.measure_all(cases, Settings(), sys.argv[1] == "worker")
mpmon, stdlib = found["catcher_raising"].value("handoff"), found["stdlib_catch_raising"].value("caller")
print(json.dumps({"catcher_until_flush_us": mpmon, "stdlib_exception_us": stdlib, "ratio": mpmon / stdlib}))
"""


def run_row(root: Path, worker: bool) -> dict[str, float]:
    """Section 1's raising ErrorCatcher row and its baseline, with `root`'s mpmon and benchmarks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPMON_")}
    env["PYTHONPATH"] = str(root)
    command = [sys.executable, "-c", ROW, "worker" if worker else "main"]
    done = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def measure(root: Path, calls: int, depths: str) -> dict[str, float]:
    """One run of the probe in a fresh interpreter with `root`'s mpmon first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPMON_")}
    env["PYTHONPATH"] = str(root)
    command = [sys.executable, "-c", PROBE, str(calls), depths]
    # cwd: the collector starts as `python -m mpmon.collector`, which finds mpmon in the cwd first
    done = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, required=True, help="checkout to compare with (the base)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--depths", default="", help="recursion depths to time, comma-separated")
    parser.add_argument("--row", action="store_true", help="section 1's row instead (medians of 5 each)")
    parser.add_argument("--worker", action="store_true", help="with --row: in a pool worker")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"base": [], "this": []}
    for _ in range(args.rounds):
        if args.row:
            runs["base"].append(run_row(args.against, args.worker))
            runs["this"].append(run_row(ROOT, args.worker))
        else:
            runs["base"].append(measure(args.against, args.calls, args.depths))
            runs["this"].append(measure(ROOT, args.calls, args.depths))
    if args.row:
        print(f"section 1, median of {args.rounds} alternating rounds (each a median of 5; wall, noisy)")
    else:
        print(f"median of {args.rounds} alternating rounds, {args.calls:,} raising calls each (wall: noisy)")
    print(f"  {'':24s} {'base':>10s} {'this':>10s} {'this/base':>10s}")
    for key in runs["this"][0]:
        base = statistics.median(r[key] for r in runs["base"])
        this = statistics.median(r[key] for r in runs["this"])
        print(f"  {key:24s} {base:10.2f} {this:10.2f} {this / base:10.2f}x")


if __name__ == "__main__":
    main()
