"""Look at a run from Python (a notebook, say) with the pieces ``mpmon-analyze`` is made of.

    python examples/analyze_in_python.py [LOG_DIR]

Lists the runs of the log directory, loads the most recent one as a DataFrame, prints its aggregates and
saves two figures next to the current directory. In a notebook, a returned Figure displays by itself.
"""

from __future__ import annotations

import sys

from mpmon.analysis import list_runs, load_run, plot_timeline, plot_top_functions, summarize


def main(log_dir: str = "logs") -> None:
    """Print the runs and the latest run's aggregates; save its timeline and top-10 figures."""
    print(list_runs(log_dir).to_string(index=False))
    calls = load_run(log_dir)  # or load_run(log_dir, run_id="...", start="2025-01-01 12:00:00")
    summary = summarize(calls)  # computed once, handed to every figure
    print(summary.functions[["calls", "total_s", "mean_s", "p95_s", "cpu_util", "errors"]].head(10))
    print({k: summary.run[k] for k in ("calls", "processes", "wall_span_s", "parallel_efficiency")})
    plot_timeline(calls, summary=summary, subtitle="from Python").savefig("timeline.png")
    plot_top_functions(calls, summary=summary).savefig("top_functions.png")


if __name__ == "__main__":
    main(*sys.argv[1:2])
