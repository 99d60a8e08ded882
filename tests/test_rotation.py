"""Rotation keeps every line while the total fits in the backups."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import call_lines, log_family, read_csv, run_program

PROGRAM = """
import mpmon

@mpmon.Timer
def step(i):
    return i

if __name__ == "__main__":
    mpmon.start_collector("logs", max_bytes=64 * 1024, backup_count=1000, log_to_console=False)
    for i in range(20_000):
        step(i)
    mpmon.stop_collector()
"""


def test_twenty_thousand_records_give_twenty_thousand_complete_lines(tmp_path: Path) -> None:
    """With 64 KiB files, 20,000 records give exactly 20,000 complete call lines across timing.log*."""
    run_program(tmp_path, PROGRAM)
    log_dir = tmp_path / "logs"
    files = sorted(log_dir.glob("timing.log*"))
    assert len(files) > 100
    for path in files:
        data = path.read_bytes()
        assert data.endswith(b"\n")
        assert len(data) <= 64 * 1024
    lines = call_lines(log_dir)
    assert len(lines) == 20_000
    assert sorted(int(json.loads(line["args"])["args"][0]) for line in lines) == list(range(20_000))
    assert len({line["uuid"] for line in lines}) == 20_000
    assert len(read_csv(log_dir)) == 20_000
    assert [e["event"] for e in log_family(log_dir, "timing.log") if e["event"] != "call"] == [
        "run_start",
        "run_summary",
    ]
