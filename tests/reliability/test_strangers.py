"""Strangers: the collector is reachable only by the run's own processes, decodes only plain values,
creates its files for their owner only, and every text that leaves a process is sanitized.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import assert_every_file_parses, json_lines, log_family, results, run_program, summaries

from mpmon import sanitizers, schema

PEERS = r"""
import json, os, pickle, socket, stat, sys
import psutil
import mpmon
from multiprocessing import AuthenticationError, connection

@mpmon.Timer(log_to_console=False)
def step(i):
    return i

class Payload:  # would run a shell command if it were ever unpickled
    def __init__(self, command):
        self.command = command
    def __reduce__(self):
        return (os.system, (self.command,))

if __name__ == "__main__":
    c = mpmon.start_collector(sys.argv[1], log_to_console=False)
    address, key = os.environ["MPMON_ADDRESS"], bytes.fromhex(os.environ["MPMON_AUTHKEY"])
    folder = os.path.dirname(address)
    folder_stat, socket_stat = os.stat(folder), os.stat(address)
    out = {"folder_mode": stat.S_IMODE(folder_stat.st_mode), "folder_owner": folder_stat.st_uid,
           "socket_mode": stat.S_IMODE(socket_stat.st_mode),
           "socket_is_socket": stat.S_ISSOCK(socket_stat.st_mode)}
    family = [psutil.Process(c.pid), *psutil.Process(c.pid).children()]
    out["inet_sockets"] = [str(s.laddr) for p in family for s in p.net_connections(kind="inet")]
    # 9: peers without the run's key
    try:
        connection.Client(address, authkey=b"not the key")
        out["wrong_key"] = "admitted"
    except (AuthenticationError, EOFError, OSError) as exc:
        out["wrong_key"] = type(exc).__name__
    raw = socket.socket(socket.AF_UNIX)
    raw.connect(address)
    raw.sendall(b"\x00\x00\x00\x05hello" * 3)
    raw.settimeout(10)
    try:
        answer = raw.recv(4096)
        while raw.recv(4096):
            pass
    except OSError:
        pass
    raw.close()
    # 10: a peer with the key, sending payloads that refer to globals (and other junk)
    marker = os.path.join(sys.argv[2], "executed")
    meta = (os.getpid(), "crafted", "host", "0" * 24, "run")
    payloads = [
        pickle.dumps((meta, [Payload(f"touch {marker}")], 1)),
        pickle.dumps(Payload(f"touch {marker}")),
        pickle.dumps((meta, [(0, eval)], 2)),
        pickle.dumps((meta, [(0, "timer", "f", "m", 1, 0, 0, 0, 0, 0, 0, "t", "", None, None)], 3))[:-9],
        b"\x80\x05 not a pickle at all",
        pickle.dumps(((os.getpid(), ["not", "plain"], "h", "p", "r"), [], 4)),
    ]
    well_formed = (os.getpid(), "crafted", "host", "00000000-0000-0000-0000-", "run")
    for seq, records in enumerate(([([0], 1)], [()], [[0, "timer"]]), start=5):  # malformed records
        payloads.append(pickle.dumps((well_formed, records, seq)))
    trusted = connection.Client(address, authkey=key)
    for payload in payloads:
        trusted.send_bytes(payload)
    trusted.close()
    for i in range(100):  # the collector still serves
        step(i)
    mpmon.stop_collector()
    out["executed"] = os.path.exists(marker)
    print(json.dumps(out))
"""


def test_the_collector_listens_only_on_a_private_socket_and_refuses_peers_without_the_key(
    tmp_path: Path, report
) -> None:
    """A Unix socket in a 0700 directory, no TCP socket; a wrong key or no handshake is refused."""
    logs = tmp_path / "logs"
    run = run_program(tmp_path, PEERS, logs, tmp_path, timeout=60, check=False)
    run.assert_ok()
    out = run.result()
    assert out["folder_mode"] == 0o700 and out["folder_owner"] == os.getuid()
    assert out["socket_is_socket"] and out["socket_mode"] & 0o077 == 0
    assert out["inet_sockets"] == []
    assert out["wrong_key"] == "AuthenticationError"
    summary = summaries(logs)[-1]
    assert summary["refused_peers"] >= 2
    assert len(results(logs)) == 100
    report(
        "wrong-key client + raw-socket peer, then 100 calls",
        records=len(results(logs)),
        lost=0,
        seconds=run.seconds,
        refused_peers=summary["refused_peers"],
    )


def test_payloads_that_refer_to_globals_are_rejected_and_counted_never_executed(tmp_path: Path) -> None:
    """os.system in a pickle, a global function, junk, malformed records: all rejected and counted; nothing
    runs, and the collector goes on serving."""
    logs = tmp_path / "logs"
    run = run_program(tmp_path, PEERS, logs, tmp_path, timeout=60, check=False)
    run.assert_ok()
    assert run.result()["executed"] is False
    assert not (tmp_path / "executed").exists()
    summary = summaries(logs)[-1]
    assert summary["rejected_payloads"] == 9
    assert summary["records_by_source"] == {"timer": 100}
    assert "refers to the global" in run.stderr


def launch_collector(tmp_path: Path, address: str, **extra: object) -> subprocess.CompletedProcess[str]:
    """Run `python -m mpmon.collector` directly with a complete configuration."""
    config = {
        "log_dir": str(tmp_path / "logs"),
        "run_id": "r",
        "address": address,
        "authkey": "00" * 32,
        "results_format": "csv",
        "max_bytes": 1 << 20,
        "backup_count": 1,
        "log_to_console": False,
        "log_to_file": True,
        "capture_logging": False,
        "tag": None,
        "drop_policy": "block",
        **extra,
    }
    command = [sys.executable, "-m", "mpmon.collector"]
    return subprocess.run(command, input=json.dumps(config), capture_output=True, text=True, timeout=30)


def test_a_tcp_listener_on_a_non_loopback_address_is_refused_without_the_explicit_opt_in(
    tmp_path: Path,
) -> None:
    """Asked for 0.0.0.0, the collector refuses to start and says why."""
    done = launch_collector(tmp_path, "0.0.0.0:0")
    assert done.returncode == 1
    assert "refusing to listen on 0.0.0.0" in done.stdout


PERMISSIONS = r"""
import os, sys
import multiprocessing as mp
import mpmon

@mpmon.ErrorCatcher(log_to_console=False)
@mpmon.Timer(log_to_console=False)
def step(i):
    if i == 3:
        raise ValueError("three")
    return i

@mpmon.Timer(log_to_console=False, results_format="parquet")
def other(i):
    return i

def late():
    step(1)  # after stop_collector: no collector, spilled

if __name__ == "__main__":
    settings = {"file_mode": int(sys.argv[2], 8)} if sys.argv[2] != "default" else {}
    mpmon.start_collector(sys.argv[1], log_to_console=False, **settings)
    for i in range(5):
        try:
            step(i)
        except ValueError:
            pass
        other(i)
    mpmon.stop_collector()
    p = mp.Process(target=late)
    p.start()
    p.join()
"""


@pytest.mark.parametrize(("file_mode", "expected"), [("default", 0o600), ("640", 0o640)])
def test_log_files_are_readable_by_their_owner_only_unless_configured_otherwise(
    tmp_path: Path, file_mode: str, expected: int
) -> None:
    """timing.log, error.log, the CSV and the Parquet parts are 0600 (or the file_mode asked for)."""
    logs = tmp_path / "logs"
    run_program(tmp_path, PERMISSIONS, logs, file_mode, timeout=60, check=False).assert_ok()
    files = [logs / schema.TIMING_LOG, logs / schema.ERROR_LOG, logs / schema.RESULTS_CSV]
    files += list((logs / schema.RESULTS_PARQUET).glob("*.parquet"))
    assert len(files) == 4
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == expected, path.name
    parquet_dir = stat.S_IMODE((logs / schema.RESULTS_PARQUET).stat().st_mode)
    assert parquet_dir == expected | (expected & 0o444) >> 2  # search permission where read is given
    spills = list(logs.glob(schema.SPILL_GLOB))
    assert spills and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in spills)


SANITIZED = r"""
import logging, sys
import multiprocessing as mp
import mpmon
import masking

@mpmon.ErrorCatcher(log_to_console=False)
@mpmon.Timer(log_to_console=False)
def login(user, password, **options):
    logging.getLogger("app").warning("logging in %s with %s", user, password)
    if options.get("fail"):
        raise PermissionError(f"bad password {password} for {user}")
    return user

@mpmon.Timer(log_to_console=False, sanitize_func=masking.own)
def own_rules(secret):
    return secret

def work(i):
    try:
        login("bob", "hunter2", token="hunter2", fail=i % 2)
    except PermissionError:
        pass
    logging.getLogger("worker").error("worker %d saw hunter2", i)
    own_rules("hunter2")
    return i

if __name__ == "__main__":
    mpmon.start_collector(sys.argv[1], log_to_console=False, capture_logging=True,
                          sanitize_func=sys.argv[2] if sys.argv[2] != "callable" else masking.mask)
    logging.getLogger().setLevel(logging.INFO)
    work(0)
    work(1)
    for method in ("fork", "spawn"):
        with mp.get_context(method).Pool(2) as pool:
            pool.map(work, range(4))
    mpmon.stop_collector()
"""
MASKING = """
def mask(text):
    return text.replace("hunter2", "[masked]")

def own(text):
    return text.replace("hunter2", "[own rule]")
"""


@pytest.mark.parametrize("how", ["callable", "masking:mask"])
def test_the_runs_sanitizer_runs_in_every_process_on_every_text_that_leaves_it(
    tmp_path: Path, how: str, report
) -> None:
    """Arguments, messages, tracebacks and captured log lines of fork and spawn workers: no secret."""
    (tmp_path / "masking.py").write_text(MASKING)
    logs = tmp_path / "logs"
    run = run_program(tmp_path, SANITIZED, logs, how, timeout=90, check=False)
    run.assert_ok()
    assert_every_file_parses(logs)
    for path in logs.rglob("*"):
        if path.is_file():
            assert b"hunter2" not in path.read_bytes(), f"a secret reached {path.name}"
    rows = results(logs)
    assert (rows["function"] == "login").sum() == 10 and (rows["function"] == "own_rules").sum() == 10
    assert all("[masked]" in a for a in rows.loc[rows["function"] == "login", "args"])
    own = rows.loc[rows["function"] == "own_rules", "args"]
    assert all("[own rule]" in a for a in own), "a decorator's own sanitize_func wins over the run's"
    errors = log_family(logs, schema.ERROR_LOG)
    assert len(errors) == 5
    assert all("[masked]" in e["error_message"] and "[masked]" in e["traceback"] for e in errors)
    captured = [e for e in log_family(logs, schema.TIMING_LOG) if e.get("event") == "log"]
    assert len(captured) == 20 and all("[masked]" in e["message"] for e in captured)
    report(
        f"sanitize_func={how}, owner + fork and spawn pools",
        records=len(rows),
        lost=20 - len(rows),
        seconds=run.seconds,
    )


DEFAULT_MASKING = r"""
import logging, sys
import mpmon

@mpmon.Timer(log_to_console=False)
def connect(dsn):
    return dsn

if __name__ == "__main__":
    mpmon.start_collector(sys.argv[1], log_to_console=False, capture_logging=True)
    logging.getLogger("db").warning("connecting with password=hunter2 and Authorization: Bearer abcdef123456")
    connect("postgres://app:hunter2@db/prod")
    try:
        mpmon.start_collector(sys.argv[1], sanitize_func=lambda text: text)
    except TypeError as exc:
        print("refused:", exc)
    mpmon.stop_collector()
"""


def test_captured_log_lines_are_masked_by_the_default_sanitizer_when_the_run_has_none(tmp_path: Path) -> None:
    """capture_logging applies mpmon.sanitizers.default; arguments are kept as they are (seed behaviour)."""
    logs = tmp_path / "logs"
    run = run_program(tmp_path, DEFAULT_MASKING, logs, timeout=60, check=False)
    run.assert_ok()
    (line,) = [e for e in json_lines(logs / schema.TIMING_LOG) if e.get("event") == "log"]
    assert line["message"] == "connecting with password=*** and Authorization: Bearer ***"
    assert "hunter2" in results(logs)["args"].iloc[0]


def test_a_run_sanitizer_that_other_processes_cannot_import_is_refused_at_start(tmp_path: Path) -> None:
    """A lambda cannot be found by name in a worker: start_collector raises TypeError, clearly."""
    code = """
import mpmon
try:
    mpmon.start_collector("logs", sanitize_func=lambda text: text)
except TypeError as exc:
    print(exc)
"""
    run = run_program(tmp_path, code, timeout=60, check=False)
    run.assert_ok()
    assert "sanitize_func must be a function other processes can import" in run.stdout


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("password=hunter2 user=bob", "password=*** user=bob"),
        ("{'password': 'hunter2', 'user': 'bob'}", "{'password': '***', 'user': 'bob'}"),
        ('{"api_key": "sk-live-123", "n": 3}', '{"api_key": "***", "n": 3}'),
        ("connect(host='db', passwd='s3cr3t')", "connect(host='db', passwd='***')"),
        ("GET /v1?access_token=abc123&page=2", "GET /v1?access_token=***&page=2"),
        ("Authorization: Bearer eyJ0eXAiOiJKV1Q", "Authorization: Bearer ***"),
        ("headers={'Authorization': 'Basic dXNlcjpwYXNz'}", "headers={'Authorization': 'Basic ***'}"),
        ("proxy-authorization: Digest abc", "proxy-authorization: Digest ***"),
        ("https://app:pa55word@db.example.com/x", "https://app:***@db.example.com/x"),
        ("key id AKIAIOSFODNN7EXAMPLE used", "key id *** used"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key = ***"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "-----PRIVATE KEY ***-----"),
        ("the author is Tolkien; the password is secret", "the author is Tolkien; the password is secret"),
    ],
)
def test_the_default_sanitizer_masks_common_secrets_and_keeps_their_names(text: str, masked: str) -> None:
    """password=, tokens, API keys, Authorization headers, URL passwords, AWS keys, private keys."""
    assert sanitizers.default(text) == masked
