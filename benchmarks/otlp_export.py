"""OTLP export throughput: spans per second for a million-row run sent to a local receiver that discards.

Writes the synthetic run of :mod:`bench_analysis` (Parquet results, error.log) once, starts a receiver in
its own process (an HTTP server on 127.0.0.1 that reads each request, decompresses it and answers 200 with
an empty ``ExportTraceServiceResponse``), then times, best of ``repetitions``, in wall and CPU seconds
(the receiver's CPU not included):

- ``translate``: rows to request bodies only (:func:`mpmon.analysis.otlp.translate.requests`), in process;
- ``export``: select the run, translate, gzip and send (:func:`mpmon.analysis.otlp.export_run`), in process;
- ``cli``: ``python -m mpmon.analysis --otlp-endpoint`` as a user runs it (loading the files included),
  with its peak RSS.

    python benchmarks/otlp_export.py [rows] [repetitions]
"""

from __future__ import annotations

import gzip
import http.server
import json
import multiprocessing
import resource
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

import bench_analysis

from mpmon.analysis import load
from mpmon.analysis.otlp import export_run, translate

_EMPTY_RESPONSE = b""  # an ExportTraceServiceResponse with no field set serializes to nothing


class _Discard(http.server.BaseHTTPRequestHandler):
    """Reads and decompresses each request (as a collector must), answers 200, keeps nothing."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            gzip.decompress(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(_EMPTY_RESPONSE)))
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _serve(port: Any) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Discard)
    port.value = server.server_address[1]
    server.serve_forever()


def _best(fn: Any, repetitions: int) -> tuple[float, float]:
    """The best wall time of ``repetitions`` calls, and the CPU time (this process and its children) of
    that call: on a shared machine CPU seconds say more than wall seconds."""
    times = []
    for _ in range(repetitions):
        started, cpu = time.perf_counter(), _cpu()
        fn()
        times.append((time.perf_counter() - started, _cpu() - cpu))
    return min(times)


def _peak_rss_mb(command: list[str]) -> float:
    """Run the command line in bench_analysis's wrapper; its peak RSS in MB."""
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result = json.loads(done.stdout)
    if result["returncode"] != 0:
        raise RuntimeError(f"mpmon-analyze failed: {result['stderr']}")
    return float(result["peak_rss_mb"])


def _cpu() -> float:
    """CPU seconds used so far by this process (all threads) and its waited-for children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(rows: int = 1_000_000, repetitions: int = 1) -> dict[str, Any]:
    """Spans per second of translation alone, of the export, and of the command line."""
    port = multiprocessing.Value("i", 0)
    receiver = multiprocessing.Process(target=_serve, args=(port,), daemon=True)
    receiver.start()
    try:
        with tempfile.TemporaryDirectory(prefix="mpmon-bench-otlp-") as tmp:
            log_dir = Path(tmp) / "logs"
            bench_analysis.write_log_dir(log_dir, bench_analysis.synthetic_table(rows), "parquet")
            while not port.value:
                time.sleep(0.01)
            url = f"http://127.0.0.1:{port.value}"
            started = time.perf_counter()
            selected = load.select_run(load.read_log_dir(log_dir))
            load_s = time.perf_counter() - started
            errors = translate.error_details(selected.error_lines)
            translate_s = _best(lambda: deque(translate.requests(selected.calls, errors), 0), repetitions)
            summary = export_run(selected, url)
            assert summary.ok, summary.line()
            export_s = _best(lambda: export_run(selected, url), repetitions)
            command = [sys.executable, "-c", bench_analysis._WRAPPER, sys.executable, "-m", "mpmon.analysis"]
            command += ["--logdir", str(log_dir), "--otlp-endpoint", url]
            peaks: list[float] = []
            cli_s = _best(lambda: peaks.append(_peak_rss_mb(command)), repetitions)
    finally:
        receiver.terminate()
        receiver.join()
    spans = summary.spans
    results: dict[str, Any] = {"rows": rows, "spans": spans, "requests": summary.requests}
    results["load_s"] = round(load_s, 2)
    results["cli_peak_rss_mb"] = round(max(peaks))
    for name, (wall, cpu) in (("translate", translate_s), ("export", export_s), ("cli", cli_s)):
        results[name] = {
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "spans_per_s": round(spans / wall),
            "spans_per_cpu_s": round(spans / cpu),
        }
    return results


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    print(json.dumps(run(*arguments), indent=2))
