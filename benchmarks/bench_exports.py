"""Wall time, CPU time and peak RSS of the exports that need every row, on synthetic runs of N rows.

For each size (``bench_analysis.py``'s generator, Parquet by default) it runs, each in a fresh process
measured by ``bench_analysis._WRAPPER`` (peak RSS of the child alone): ``mpmon-analyze`` (the report
alone, the baseline every export adds to), with ``--trace`` (parts of ``--calls-per-file``, when the
interpreter's mpmon has the flag), with ``--export-rows``, ``--otlp-endpoint`` (a local receiver that
reads and discards each request) and ``compare`` of the run with itself. Wall time is noisy on a
shared machine; CPU seconds and peak RSS are what to compare. ``--python`` measures another checkout's
interpreter (the same commands before and after a change).

    python benchmarks/bench_exports.py 50000 1000000 [--data DIR] [--python PATH] [--format csv]
"""

from __future__ import annotations

import argparse
import http.server
import importlib.util
import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType
from typing import Any


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_analysis", Path(__file__).with_name("bench_analysis.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Sink(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that reads each request and answers 200 with an empty response."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def commands(log_dir: Path, out: Path, url: str, calls_per_file: int, split: bool) -> dict[str, list[str]]:
    """The commands measured, by name (arguments of ``python -m mpmon.analysis``)."""
    base = ["--logdir", str(log_dir), "--out", str(out), "-q"]
    trace = ["--trace", str(out / "trace.json")] + (
        ["--trace-calls-per-file", str(calls_per_file)] if split else []
    )
    return {
        "report": base,
        "trace": [*base, *trace],
        "export-rows": [*base, "--export-rows"],
        "otlp": ["--logdir", str(log_dir), "--otlp-endpoint", url],
        "compare": ["compare", str(log_dir), str(log_dir), "--no-report", "-q"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int, nargs="+")
    parser.add_argument("--data", type=Path, help="keep and reuse the generated log directories here")
    parser.add_argument("--python", default=sys.executable, help="the interpreter whose mpmon is measured")
    parser.add_argument("--format", default="parquet", choices=("csv", "parquet"))
    parser.add_argument("--calls-per-file", type=int, default=50_000)
    args = parser.parse_args()
    bench = _bench()
    data = args.data or Path(tempfile.mkdtemp(prefix="mpmon-bench-exports-"))
    split = (
        "--trace-calls-per-file"
        in subprocess.run(
            [args.python, "-m", "mpmon.analysis", "--help"], capture_output=True, text=True, cwd=data
        ).stdout
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    for rows in args.rows:
        log_dir = data / f"{rows}-{args.format}" / "logs"
        if not log_dir.exists():
            bench.write_log_dir(log_dir, bench.chunks(rows), args.format)
        for name, command in commands(
            log_dir, Path(tempfile.mkdtemp()), url, args.calls_per_file, split
        ).items():
            done = subprocess.run(
                [sys.executable, "-c", bench._WRAPPER, args.python, "-m", "mpmon.analysis", *command],
                capture_output=True,
                text=True,
                check=True,
                cwd=data,  # not a checkout: the interpreter imports its own mpmon
            )
            result = json.loads(done.stdout)
            status = (
                "ok"
                if result["returncode"] == 0
                else f"exit {result['returncode']}: {result['stderr'][-200:]}"
            )
            print(
                f"{rows:>11,} {args.format:8} {name:12} wall {result['wall_s']:6.1f} s  "
                f"cpu {result['cpu_s']:6.1f} s  peak RSS {result['peak_rss_mb']:7.0f} MB  {status}",
                flush=True,
            )
    server.shutdown()


if __name__ == "__main__":
    main()
