"""The exports that need every row (``--trace``, ``--export-rows``, OTLP, ``compare``) read a scanned run
in bounded batches: their output is the loading path's, and their memory does not grow with calls.

The expected outputs are today's: the loading path (every row in pandas) through the same writers. The
runs are the benchmark's generator (``benchmarks/bench_analysis.py``: 50 functions, 8 workers, nested
calls, errors). The memory tests run the command in a fresh process and compare its peak RSS on 50k and
1M rows (Parquet): at most 1.5x for 20x the calls.
"""

from __future__ import annotations

import gzip
import http.server
import json
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from benchmarks import bench_analysis
from mpmon import schema
from mpmon.analysis import compare, report, scanned, to_chrome_trace
from mpmon.analysis.load import load_run, read_log_dir, select_run
from mpmon.analysis.selection import Run

SMALL_ROWS = 4_000
BIG_ROWS = 1_000_000


def _write(log_dir: Path, rows: int, results_format: str = "parquet") -> Path:
    bench_analysis.write_log_dir(log_dir, bench_analysis.chunks(rows), results_format)
    return log_dir


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic run of SMALL_ROWS rows (Parquet results, timing.log, error.log)."""
    return _write(tmp_path_factory.mktemp("small") / "logs", SMALL_ROWS)


def _scanned(log_dir: Path) -> Run:
    run = scanned.open_run(log_dir)
    assert run is not None and run.source is not None
    return run


def _read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="ascii"))
    return data


def _slices(trace: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """call_id -> what its slice shows: name, category, start (absolute, us), duration, pid, the lane's
    name, colour, args."""
    start = pd.Timestamp(trace["otherData"]["start_time"])
    origin = (start - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)
    lanes = {
        (e["pid"], e["tid"]): e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "thread_name"
    }
    return {
        e["args"]["call_id"]: (
            e["name"],
            e["cat"],
            origin + e["ts"],
            e["dur"],
            e["pid"],
            lanes[e["pid"], e["tid"]],
            e.get("cname"),
            json.dumps(e["args"], sort_keys=True),
        )
        for e in trace["traceEvents"]
        if e["ph"] == "X"
    }


class TestSameOutput:
    """On a small run, each streamed export writes what the loading path writes."""

    def test_trace_in_one_file_and_in_parts(self, small: Path, tmp_path: Path) -> None:
        """One file: today's slices and process names. In parts of at most 1,000 calls: every call once,
        at the same instant, duration, process and lane; each part a whole trace sorted by start."""
        from mpmon.analysis import trace_stream

        want = _read(to_chrome_trace(load_run(small), tmp_path / "today.json"))
        run = _scanned(small)
        try:
            (one,) = trace_stream.write_run_trace(run, tmp_path / "one.json")
            parts = trace_stream.write_run_trace(run, tmp_path / "t.json", calls_per_file=1_000)
        finally:
            run.source.close()  # type: ignore[union-attr]
        got = _read(one)
        assert _slices(got) == _slices(want)
        assert [e for e in got["traceEvents"] if e["ph"] == "M" and e["name"].startswith("process")] == [
            e for e in want["traceEvents"] if e["ph"] == "M" and e["name"].startswith("process")
        ]
        assert [p.name for p in parts] == [f"t.{k:04d}.json" for k in range(1, len(parts) + 1)]
        assert len(parts) >= 4
        joined: dict[str, tuple[Any, ...]] = {}
        for path in parts:
            trace = _read(path)
            assert 0 < trace["otherData"]["calls"] <= 1_000
            starts = [e["ts"] for e in trace["traceEvents"] if e["ph"] == "X"]
            assert starts == sorted(starts) and starts[0] == 0
            joined.update(_slices(trace))
        assert joined == _slices(want)

    def test_rows_parquet(self, small: Path, tmp_path: Path) -> None:
        """rows.parquet: the same rows, columns and Arrow types as the rows loaded and written at once."""
        from mpmon.analysis import rows_export

        run = _scanned(small)
        try:
            got = pq.read_table(rows_export.write_rows(run, tmp_path / "streamed.parquet"))
            today = report.export_rows(scanned.run_rows(run, schema.COLUMN_NAMES), tmp_path / "today.parquet")
        finally:
            run.source.close()  # type: ignore[union-attr]
        want = pq.read_table(today)
        assert got.schema == want.schema == schema.arrow_schema()
        assert got.num_rows == SMALL_ROWS
        assert got.sort_by("call_id").equals(want.sort_by("call_id"))

    def test_otlp_requests(self, small: Path) -> None:
        """The spans a real receiver decodes (official protobufs) are the loaded run's, in as many
        requests, each with its resources."""
        from mpmon.analysis.otlp.export import export_run

        got, want = _Receiver(keep=True), _Receiver(keep=True)
        run = _scanned(small)
        try:
            streamed = export_run(run, got.url, batch_size=500, compression=None)
            loaded = export_run(select_run(read_log_dir(small)), want.url, batch_size=500, compression=None)
        finally:
            run.source.close()  # type: ignore[union-attr]
            got.close()
            want.close()
        assert streamed.ok and loaded.ok and streamed.sent == loaded.sent == SMALL_ROWS
        assert len(got.requests) == len(want.requests) == SMALL_ROWS // 500
        assert sorted(got.spans) == sorted(want.spans)

    def test_compare_figures_and_samples(self, small: Path) -> None:
        """compare's per-function table (calls, errors, p50, p95, total, self time) and its samples (all
        durations below the sample limit) equal the loading path's."""
        run = _scanned(small)
        try:
            got = compare._scan_reduce(run)
        finally:
            run.source.close()  # type: ignore[union-attr]
        want = compare._reduce(select_run(read_log_dir(small, compare.COLUMNS)), np.random.default_rng(0))
        assert list(got.functions.index) == list(want.functions.index)
        assert (got.functions[["calls", "errors"]] == want.functions[["calls", "errors"]]).all().all()
        for name in ("p50_s", "p95_s", "total_s", "self_s"):
            np.testing.assert_allclose(got.functions[name], want.functions[name], rtol=1e-12, err_msg=name)
        assert got.samples.keys() == want.samples.keys()
        for name, values in want.samples.items():
            assert np.array_equal(np.sort(got.samples[name]), np.sort(values)), name


class _Receiver:
    """An OTLP/HTTP endpoint on a free local port that decodes every request with the official
    opentelemetry-proto classes; it keeps each span's bytes and resource (``keep``) or only counts."""

    def __init__(self, keep: bool) -> None:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as pb

        self.requests: list[int] = []  # spans per request
        self.spans: list[tuple[bytes, bytes]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = pb.ExportTraceServiceRequest.FromString(body)
                count = 0
                for rs in request.resource_spans:
                    resource = rs.resource.SerializeToString(deterministic=True)
                    for ss in rs.scope_spans:
                        count += len(ss.spans)
                        if keep:
                            receiver.spans += [(resource, s.SerializeToString()) for s in ss.spans]
                receiver.requests.append(count)
                payload = pb.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- memory --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sizes(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Synthetic runs of 50k and 1M rows (Parquet), written once for the module."""
    base = tmp_path_factory.mktemp("sizes")
    return {rows: _write(base / f"{rows}" / "logs", rows) for rows in (BIG_ROWS // 20, BIG_ROWS)}


def _peaks(sizes: dict[int, Path], command: Any) -> dict[int, float]:
    """Peak RSS (MB) of ``command(log_dir)`` run in a fresh interpreter, by rows; it must succeed."""
    peaks = {}
    for rows, log_dir in sizes.items():
        args = [sys.executable, "-m", "mpmon.analysis", *command(log_dir)]
        done = subprocess.run(
            [sys.executable, "-c", bench_analysis._WRAPPER, *args], capture_output=True, text=True, check=True
        )
        result = json.loads(done.stdout)
        assert result["returncode"] == 0, result["stderr"]
        peaks[rows] = result["peak_rss_mb"]
    return peaks


def _stamp() -> str:
    return datetime.now().strftime("%H%M%S%f")


@pytest.mark.slow
class TestMemory:
    """20x the calls take at most 1.5x the peak RSS of the export (a fresh process each)."""

    def test_trace(self, sizes: dict[int, Path], tmp_path: Path) -> None:
        """``--trace`` in parts of 50,000 calls: one file of the small run, 20 of the big one."""

        def command(log_dir: Path) -> list[str]:
            out = tmp_path / _stamp()
            out.mkdir()
            flags = ["--trace", str(out / "trace.json"), "--trace-calls-per-file", "50000"]
            return ["--logdir", str(log_dir), "--out", str(out), "-q", *flags]

        peaks = _peaks(sizes, command)
        print(f"peak RSS of mpmon-analyze --trace, MB by rows: {peaks}")
        small, *big = sorted(tmp_path.glob("*/trace*.json"), key=lambda p: p.stat().st_mtime)
        assert small.name == "trace.json" and len(big) >= 20 and big[0].name == "trace.0001.json"
        assert peaks[BIG_ROWS] <= 1.5 * peaks[BIG_ROWS // 20], peaks

    def test_export_rows(self, sizes: dict[int, Path], tmp_path: Path) -> None:
        """``--export-rows``: rows.parquet holds every row."""
        peaks = _peaks(
            sizes, lambda d: ["--logdir", str(d), "--out", str(tmp_path / _stamp()), "-q", "--export-rows"]
        )
        print(f"peak RSS of mpmon-analyze --export-rows, MB by rows: {peaks}")
        counts = sorted(pq.read_metadata(p).num_rows for p in tmp_path.glob("*/*/rows.parquet"))
        assert counts == [BIG_ROWS // 20, BIG_ROWS]
        assert peaks[BIG_ROWS] <= 1.5 * peaks[BIG_ROWS // 20], peaks

    def test_otlp(self, sizes: dict[int, Path]) -> None:
        """``--otlp-endpoint``: a real receiver decodes every span."""
        receiver = _Receiver(keep=False)
        try:
            peaks = _peaks(sizes, lambda d: ["--logdir", str(d), "--otlp-endpoint", receiver.url])
        finally:
            receiver.close()
        print(f"peak RSS of mpmon-analyze --otlp-endpoint, MB by rows: {peaks}")
        assert sum(receiver.requests) == BIG_ROWS + BIG_ROWS // 20
        assert peaks[BIG_ROWS] <= 1.5 * peaks[BIG_ROWS // 20], peaks

    def test_compare(self, sizes: dict[int, Path], tmp_path: Path) -> None:
        """``compare`` of a run with itself: every call counted."""

        def command(log_dir: Path) -> list[str]:
            return [
                "compare",
                str(log_dir),
                str(log_dir),
                "--no-report",
                "-q",
                "--json",
                str(tmp_path / f"{_stamp()}.json"),
            ]

        peaks = _peaks(sizes, command)
        print(f"peak RSS of mpmon-analyze compare, MB by rows: {peaks}")
        calls = sorted(_read(p)["a"]["calls"] for p in tmp_path.glob("*.json"))
        assert calls == [BIG_ROWS // 20, BIG_ROWS]
        assert peaks[BIG_ROWS] <= 1.5 * peaks[BIG_ROWS // 20], peaks
