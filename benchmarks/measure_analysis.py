"""One ``mpmon-analyze`` run of a source tree on a log directory: wall, CPU seconds and peak RSS.

    python -m benchmarks.measure_analysis TREE LOGDIR OUT

``TREE`` is a checkout (this one, or a worktree of a base commit): the analysis runs with it as the
working directory, so ``python -m mpmon.analysis`` imports that tree's code. Prints one JSON line with
the load average before and after (the machine may be shared).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from benchmarks import bench_analysis


def main(tree: str, log_dir: str, out: str) -> dict[str, object]:
    """Measure one run in a fresh wrapper process (``bench_analysis._WRAPPER``)."""
    command = [sys.executable, "-m", "mpmon.analysis", "--logdir", log_dir, "--out", out, "-q"]
    before = os.getloadavg()[0]
    done = subprocess.run(
        [sys.executable, "-c", bench_analysis._WRAPPER, *command],
        capture_output=True,
        text=True,
        cwd=tree,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    if result["returncode"] == 0:
        result.pop("stderr")
    result["load"] = [round(before, 1), round(os.getloadavg()[0], 1)]
    return {"tree": tree, "logdir": log_dir, **result}


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))
