"""The collector bounds what it writes whatever the sender (collector/bounds.py): a keyed peer's message that
expands through the pickle memo is refused before it becomes rows, a spill line's huge field is cut to
the sender's limit, an impossible dropped count is refused; the writer's memory and the files stay small."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mpmon import render, schema
from tests.helpers import PRELUDE, json_lines, read_csv, run_program, summaries

PROGRAM = (
    PRELUDE
    + """
import pickle
import psutil
from mpmon import spill, wire

logs = sys.argv[1]
os.makedirs(logs)
meta = (1, "p", "h", "01234567-0123-0123-0123-", "")
def call(name, args):
    return (0, "timer", name, "m", 1, 0, time.time_ns(), 1, 1000, -1, -1, "t", "", args, (None, None, None))

c = mpmon.start_collector(logs, log_to_console=False)
conn = wire.connect(c.address, bytes.fromhex(os.environ["MPMON_AUTHKEY"]), 5.0)
peer = (2, "p", "h", "12345678-0123-0123-0123-", c.run_id)
big = "x" * 100_000
amplified = wire.encode_batch(peer, [call("amplified", ((big,) * 5000, ()))], 1)  # 5,000 references to one
conn.send_bytes(amplified)
conn.send_bytes(wire.encode_batch(peer, [call("beside_a_bad_count", None), (wire.DROPPED, 10**30)], 2))
lost, acked = 0, 0
while acked < 2 and conn.poll(60):
    reply = conn.recv_bytes()
    if reply.startswith(wire.LOST):
        lost += int(reply[len(wire.LOST):])
    elif reply.startswith(wire.ACK):
        acked = int(reply[len(wire.ACK):])
writer = psutil.Process(c.pid).children()[0]
peak = int(next(l for l in open(f"/proc/{writer.pid}/status") if l.startswith("VmHWM")).split()[1]) * 1024
steady(20)
conn.close()
mpmon.stop_collector()

# Left by a process that reached no collector: a call whose arguments weigh 60 MiB, an impossible count;
# ingested by the next run's collector.
spill.write(logs, meta, [call("huge_spill", (("y" * (60 << 20),), ()))], 0)
with open(spill.spill_path(logs, meta), "a") as f:
    f.write(json.dumps({"event": spill.DROPPED_EVENT, "count": 10**30, "pid": 1, "host": "h"}) + "\\n")
mpmon.start_collector(logs, log_to_console=False)
mpmon.stop_collector()
print(json.dumps({"wire_bytes": len(amplified), "lost": lost, "writer_peak_rss": peak}))
"""
)


@pytest.mark.slow
def test_amplified_oversized_and_impossible_input_is_bounded_by_the_collector(
    tmp_path: Path, report: Callable[..., None]
) -> None:
    """0b19303: the amplified message drove the writer to 2.4 GB and wrote 954 MiB, the 60 MiB spill
    field went into the CSV as is, the count of 10**30 was summed. Here the message is refused whole
    (its sender told LOST), the field is cut to MAX_ARGS_FIELD, the counts are refused."""
    logs = tmp_path / "logs"
    run = run_program(tmp_path, PROGRAM, logs, timeout=180, check=False)
    run.assert_ok()
    result = run.result()
    assert result["wire_bytes"] < 120_000 and result["lost"] == 3, result
    assert result["writer_peak_rss"] < 200 << 20, result
    written = sum(p.stat().st_size for p in logs.iterdir() if p.is_file())
    assert written < 8 << 20, written  # the quarantine keeps at most 1 MiB of each bad input
    rows = read_csv(logs)
    assert set(rows.function) == {"step", "huge_spill"} and len(rows) == 21
    huge = rows.loc[rows.function == "huge_spill", "args"].iloc[0]
    assert len(huge) <= render.MAX_ARGS_FIELD and json.loads(huge)["args"][0].startswith("yyy")
    first, second = summaries(logs)
    assert (
        first["dropped"] == 0
        and first["rejected_payloads"] == 2
        and first["lost"] == {"rejected_payloads": 2}
    )
    assert second["dropped"] == 0 and second["lost"] == {"rejected_payloads": 1}  # the spill line of 10**30
    quarantine = json_lines(logs / f"{schema.QUARANTINE_PREFIX}{first['run_id']}.jsonl")
    assert len(quarantine) == 2 and any("expands to 500,0" in q["reason"] for q in quarantine)
    report(
        "amplified message, 60 MiB spill field, count 10**30",
        23,
        3,
        run.seconds,
        writer_peak_mib=result["writer_peak_rss"] >> 20,
        written_kib=written >> 10,
    )
