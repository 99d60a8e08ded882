"""The socket transport's window of unconfirmed batches (mpmon/transport.py), against a real collector."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.helpers import json_lines, run_program

WINDOW_BYTES = 4 << 20
"""transport.ACK_WINDOW_BYTES (written out: the program's figure must fail where there was no such bound)."""

MANY_ONE_RECORD_BATCHES = """
import json, os, sys, tracemalloc
import mpmon
from mpmon import environment, wire
from mpmon.testing import capture_records
from mpmon.transport import SocketTransport, SpillTransport

count, size = int(sys.argv[1]), int(sys.argv[2])
logs = os.path.abspath("logs")
mpmon.start_collector(logs, log_to_console=False, max_bytes=1 << 30)

@mpmon.ErrorCatcher(log_to_console=False)
def fail(text):
    raise ValueError(text)

with capture_records() as records:  # one real error record, as the template of the others
    try:
        fail("template")
    except ValueError:
        pass
(error,) = records.errors
fields = [getattr(error, name) for name in wire.ERROR_FIELDS]
at = wire.ERROR_FIELDS.index("error_message")
meta = (error.pid, error.process_name, error.host, "5e11ded0-0000-4000-8000-", error.run_id)

# A transport of its own (the flusher reads the sender's confirmations, not these): only the window
# decides when confirmations are read. Each batch is one error record with a long message of its own.
transport = SocketTransport(environment.discover(), SpillTransport(logs))
tracemalloc.start()
before = tracemalloc.get_traced_memory()[0]
for seq in range(1, count + 1):
    fields[at] = f"{seq:06d}:" + "x" * size
    assert transport.deliver(meta, [(wire.ERROR, *fields)], seq) == "sent"
held = tracemalloc.get_traced_memory()[0] - before
tracemalloc.stop()
confirmed = transport.confirm(60)
transport.close()
mpmon.stop_collector()
print(json.dumps({"held": held, "sent": count * size, "confirmed": confirmed}))
"""


def test_many_one_record_batches_of_long_texts_keep_no_more_than_the_windows_bytes(tmp_path: Path) -> None:
    """800 one-record batches of 40 KB each (31 MiB, well under the window's 4,096 records): what the
    transport keeps for them until confirmed stays near ACK_WINDOW_BYTES (4 MiB) rather than all of
    them, and every record is confirmed and in error.log."""
    count, size = 800, 40_000
    found = run_program(tmp_path, MANY_ONE_RECORD_BATCHES, count, size).result()
    assert found["confirmed"] and found["sent"] > 7 * WINDOW_BYTES
    assert found["held"] < 2 * WINDOW_BYTES, f"{found['held'] / 2**20:.1f} MiB kept"
    messages = [e["error_message"] for e in json_lines(tmp_path / "logs" / "error.log")]
    assert sorted(m[:6] for m in messages if m != "template") == [f"{s:06d}" for s in range(1, count + 1)]
    shutil.rmtree(tmp_path / "logs")  # 31 MiB of error.log
