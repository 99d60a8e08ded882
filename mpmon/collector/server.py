"""The collector's loop: accept authenticated peers, read their batches, hand them to the writer.

One thread accepts connections (the handshake runs there, so a slow peer cannot stall the loop); the
main thread waits on every connection at once, reads whatever is ready, decodes and writes it. A stop
request, or the end of the parent process, drains every connection before the files are closed.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from multiprocessing import AuthenticationError, connection
from typing import Any

from ..wire import STOP, STOPPED, RejectedPayload, decode_batch
from .writer import Writer

__all__ = ["Server"]
TICK_SECONDS = 0.25
DRAIN_QUIET_SECONDS = 0.1


class Server:
    """Serves one run: a listener, its connections and the writer."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self._listener = connection.Listener(
            _address(config["address"]), authkey=bytes.fromhex(config["authkey"])
        )
        self._wake_read, self._wake_write = os.pipe()
        self._new: list[connection.Connection] = []
        self._connections: list[connection.Connection] = []
        self._stop_requests: list[connection.Connection] = []
        self._parent = os.getppid()
        self.writer = Writer(config)

    def serve(self) -> None:
        threading.Thread(target=self._accept, name="mpmon-accept", daemon=True).start()
        self.writer.start()
        while not self._stop_requests and os.getppid() == self._parent:
            self._round(TICK_SECONDS)
        self._drain()
        self.writer.stop()
        for requester in self._stop_requests:
            _reply(requester, STOPPED)
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn = self._listener.accept()
            except AuthenticationError:
                self.writer.stats.refused_peers += 1
                continue
            except OSError:
                return
            self._new.append(conn)
            os.write(self._wake_write, b"\0")

    def _round(self, timeout: float) -> bool:
        """Wait up to `timeout` for data, read and write it all; False if nothing came."""
        ready = connection.wait([self._wake_read, *self._connections], timeout)
        payloads: list[bytes] = []
        for source in ready:
            if source == self._wake_read:
                os.read(self._wake_read, 4096)
                self._connections += _take(self._new)
            else:
                self._read(source, payloads)  # type: ignore[arg-type]
        if payloads:
            self._write(payloads)
        self.writer.tick()
        return bool(ready)

    def _read(self, conn: connection.Connection, payloads: list[bytes]) -> None:
        try:
            while conn.poll():
                payload = conn.recv_bytes()
                if payload == STOP:
                    self._stop_requests.append(conn)
                    return
                payloads.append(payload)
        except (EOFError, OSError):
            self._connections.remove(conn)
            conn.close()

    def _write(self, payloads: list[bytes]) -> None:
        batches = []
        for payload in payloads:
            try:
                batches.append(decode_batch(payload))
            except RejectedPayload as exc:
                self.writer.reject(str(exc))
        self.writer.write(batches)

    def _drain(self) -> None:
        """Read until every connection has been quiet for a moment."""
        while self._round(DRAIN_QUIET_SECONDS):
            pass


def _take(items: list[connection.Connection]) -> list[connection.Connection]:
    taken = items[:]
    del items[: len(taken)]
    return taken


def _reply(conn: connection.Connection, message: bytes) -> None:
    with contextlib.suppress(OSError):
        conn.send_bytes(message)


def _address(text: str) -> Any:
    from ..environment import parse_address

    address = parse_address(text)
    if address is None:
        print(f"mpmon collector: bad address {text!r}", file=sys.stderr)
        raise SystemExit(2)
    return address
