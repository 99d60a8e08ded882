"""The report of examples/demo.py, a real Pool(2) run with nested calls and errors, read back from disk."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def test_parallel_efficiency_is_the_workers_figure(demo_report: Path) -> None:
    """The headline parallel efficiency equals the processes table's busy / span of the two workers;
    the main process, which only summed the results in one short call, is not counted."""
    data = json.loads((demo_report / "summary.json").read_text())
    processes = pd.read_csv(demo_report / "processes.csv", index_col="process")
    counted = processes[processes["workload"]]
    assert sorted(counted["process_name"]) == ["ForkPoolWorker-1", "ForkPoolWorker-2"]
    assert list(processes.loc[~processes["workload"], "process_name"]) == ["MainProcess"]
    efficiency = data["run"]["parallel_efficiency"]
    assert efficiency == pytest.approx(counted["utilisation"].mean(), rel=1e-9)
    assert data["run"]["workload_functions"] == ["process"]
    html = (demo_report / "report.html").read_text()
    assert f"<b>{efficiency:.0%}</b><span>parallel efficiency</span>" in html
    assert (
        f"parallel efficiency {efficiency:.0%} = busy time of the 2 processes that ran the workload" in html
    )
    for share in counted["utilisation"]:
        assert f"<td>{share:.1%}</td>" in html
    shares = " + ".join(f"{u:.1%}" for u in counted["utilisation"])
    assert f"<p>Parallel efficiency {efficiency:.1%} = ({shares}) / 2: the mean busy / span" in html


def test_errors_show_sanitized_messages_and_tracebacks(demo_report: Path) -> None:
    """Every 37th item fails: one group, its count, the message as the sanitizer masked it, the
    traceback folded."""
    html = (demo_report / "report.html").read_text()
    errors = html[html.index("<section id='errors'>") : html.index("<section id='collector'>")]
    assert "<h3>ValueError in process</h3>" in errors
    assert re.search(r"<p>10 times, first at [\d:.]+, last at [\d:.]+ \(UTC\)", errors)
    assert "<code>item *** is corrupt (checksum *x" in errors
    trace = re.search(r"<details><summary>traceback</summary><pre>(.*?)</pre></details>", errors, re.S)
    assert trace and "Traceback (most recent call last)" in trace.group(1)
    assert "ValueError: item *** is corrupt" in trace.group(1)


def test_slowest_calls_and_a_small_folder(demo_report: Path) -> None:
    """20 slowest calls with arguments and a timeline link; no raw logs copied; well under 10 MB."""
    html = (demo_report / "report.html").read_text()
    rows = re.findall(r"<tr id='slow-(\d+)'>(.*?)</tr>", html, re.S)
    assert [int(n) for n, _ in rows] == list(range(1, 21))
    assert all("<a href='#timeline'>+" in row and "ForkPoolWorker-" in row for _, row in rows)
    assert all(re.search(r"<td class='text' title='\([^']+\)'>", row) for _, row in rows)
    names = {p.name for p in demo_report.iterdir()}
    assert not names & {"rows.parquet", "run_results.csv", "timing.log.jsonl", "error.log.jsonl"}
    assert sum(p.stat().st_size for p in demo_report.iterdir()) < 10 * 2**20
