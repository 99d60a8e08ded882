"""The collector's loop: accept authenticated peers, read their batches, hand them to the writer, confirm.

The listening socket is made once, by the collector's supervisor (`__main__`), and each
writer process the supervisor forks inherits it: peers can connect even while a killed writer is being
replaced. One thread accepts connections and runs each handshake in a thread of its own with a time
limit, so a peer that never answers delays no one. The main thread waits on every connection at once
and reads without blocking, keeping a message until all of it has come, so a peer frozen in the middle
of a message stalls nothing. After the writer has written and committed a round, each sender is told
(ACK) the last of its batches that is on disk, preceded (LOST) by how many of its records could not be
written, if any. A stop request drains every connection, within the
time it allows, before the files are closed; so does the end of the supervisor. Before that drain, a
stop asks every connected process to hand over what it buffers (GATHER) and waits for their answers
(GATHERED) within GATHER_WAIT_SECONDS, so long-lived processes that mpmon did not start have their
records on disk when the stop returns.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import struct
import threading
import time
from multiprocessing import AuthenticationError, connection
from typing import Any, Final

from ..units import format_duration
from ..wire import (
    ACK,
    FLUSH,
    GATHER,
    GATHERED,
    LOST,
    MAX_MESSAGE,
    STOP,
    STOPPED,
    SYNC,
    Batch,
    RejectedPayload,
    admit,
    decode_batch,
)
from .bounds import Unbounded, bound
from .report import say
from .settings import Settings
from .writer import Writer

__all__ = ["Server"]
TICK_SECONDS = 0.25
DRAIN_QUIET_SECONDS = 0.02
"""A drain ends when every connection has been quiet this long (at stop, a process still exiting may
send its last batch; one that comes later is spilled and ingested by the next collector)."""
DRAIN_SECONDS = 30.0
"""Longest drain when the stop request sets no limit (or the supervisor is gone)."""
GATHER_SECONDS = 0.1
"""A round that has received less than GATHER_BYTES waits at most this long for more, unless a sender
says (SYNC) that it waits for its confirmation."""
GATHER_BYTES = 256 << 10
"""About 2,000 records, twenty of a pool worker's per-chunk batches: a round's fixed cost (about 1 ms of
CPU) is then paid by that many records (48 KiB, the value before, gave a pool's small batches rounds of
400 records at twice the collector's CPU per record). A sender whose window of unconfirmed records fills
sends SYNC, which ends the wait at once."""
BUSY_BATCH_BYTES = 48 << 10
"""A batch this large (a few hundred records or more: a busy process's full batch is 60-130 KiB) ends the
wait: it is written at once, so that writing overlaps with the sender's next batch. Waiting for more would
make a lone busy process fill its window and wait for the round, in lockstep (a tight loop of
`@Timer(track_resources=False)` took 5.1-5.6 us a call instead of 3.1-3.9)."""
HANDSHAKE_SECONDS = 5.0
FLUSH_HANDSHAKE_WAIT_SECONDS = 1.0
"""A FLUSH waits at most this long for the handshakes under way, whose peers may have sent records before
the FLUSH was sent (a peer that never ends its handshake delays a FLUSH by this much at worst)."""
GATHER_WAIT_SECONDS = 5.0
"""At stop, the longest wait (and at most half the stop's drain time) for the connected processes to answer
GATHER: a process frozen or stuck without its GIL delays the stop by this much at worst."""
READ_CHUNK = 1 << 20
ACCEPT_BACKOFF: Final = (0.01, 0.5)
"""After a failed accept() (out of file descriptors), wait this long before the next, doubling."""


class Server:
    """Serves one run in one writer process: the inherited listener, its peers and the writer."""

    def __init__(self, settings: Settings, listener: connection.Listener) -> None:
        self._listener = listener
        self._authkey = bytes.fromhex(settings.authkey)
        self._wake_read, self._wake_write = os.pipe()
        self._new: list[connection.Connection] = []
        self._handshaking: set[connection.Connection] = set()  # accepted, handshake not yet ended
        self._peers: list[_Peer] = []
        self._stop_requests: list[_Peer] = []
        self._drain_seconds: float | None = None
        self._hurry = False  # a sender waits for confirmations: no gathering this round
        self._flush_requests: list[_Peer] = []
        self._parent = os.getppid()
        self.writer = Writer(settings)

    def serve(self) -> None:
        threading.Thread(target=self._accept, name="mpmon-accept", daemon=True).start()
        self.writer.start()
        while not self._stop_requests and os.getppid() == self._parent:
            self._round(TICK_SECONDS)
        budget = DRAIN_SECONDS if self._drain_seconds is None else self._drain_seconds
        deadline = time.monotonic() + budget
        self._gather_senders(time.monotonic() + min(budget / 2, GATHER_WAIT_SECONDS))
        self._drain(deadline)
        unfinished = sum(1 for peer in self._peers if peer.inbox)
        if unfinished:
            self.writer.reject(f"{unfinished} peers stopped in the middle of a message")
        self.writer.stop()
        lost = self.writer.stats.lost(self.writer.settings.drop_policy)
        for requester in self._stop_requests:  # with what the run lost, for the stop's outcome
            requester.send(STOPPED + b":" + json.dumps(lost).encode(), wait=True)

    # -- connections ----------------------------------------------------------------------------------

    def _accept(self) -> None:
        """Accept peers for ever; a failed accept (EMFILE, ENFILE...) is counted and waited out."""
        pause = ACCEPT_BACKOFF[0]
        while True:
            try:
                conn = self._listener.accept()
            except OSError as exc:
                if exc.errno in (errno.EBADF, errno.EINVAL):  # the listener was closed
                    return
                self.writer.stats.accept_errors += 1
                wait = format_duration(pause)
                say("accept", f"cannot accept a connection ({exc}); waiting {wait} and going on")
                time.sleep(pause)
                pause = min(pause * 2, ACCEPT_BACKOFF[1])
                continue
            pause = ACCEPT_BACKOFF[0]
            self._handshaking.add(conn)
            try:
                threading.Thread(target=self._handshake, args=(conn,), daemon=True).start()
            except RuntimeError as exc:  # no thread can be started now
                self._handshaking.discard(conn)
                self.writer.stats.accept_errors += 1
                say("accept", f"cannot serve a connection ({exc}); it was closed")
                conn.close()

    def _handshake(self, conn: connection.Connection) -> None:
        """Admit a peer that proves it has the run's key within HANDSHAKE_SECONDS; refuse any other."""
        try:
            self._admit(conn)
        finally:
            self._handshaking.discard(conn)

    def _admit(self, conn: connection.Connection) -> None:
        try:
            admit(conn, self._authkey, HANDSHAKE_SECONDS)
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):  # out of descriptors here, not a bad peer
                self.writer.stats.accept_errors += 1
                say("accept", f"cannot accept a connection ({exc}); it was closed")
            else:
                self.writer.stats.refused_peers += 1
            conn.close()
            return
        except (AuthenticationError, EOFError, ValueError):
            self.writer.stats.refused_peers += 1
            conn.close()
            return
        self._new.append(conn)
        os.write(self._wake_write, b"\0")

    # -- rounds ---------------------------------------------------------------------------------------

    def _round(self, timeout: float) -> bool:
        """Wait up to `timeout` for data, read, write and confirm it all; False if nothing came."""
        waitables: list[Any] = [self._wake_read, *self._peers]  # _Peer has fileno()
        ready = connection.wait(waitables, timeout)
        self._hurry = False
        received: list[tuple[_Peer, bytes]] = []
        for source in ready:
            if source == self._wake_read:
                os.read(self._wake_read, 4096)
                self._admit_new_peers()
            else:
                self._receive(source, received)  # type: ignore[arg-type]
        if received and not self._stop_requests:
            self._gather(received)  # a FLUSH may arrive meanwhile: it is handled next, in this round
        if self._flush_requests:  # what any process sent before the FLUSH is written with it
            self._await_handshakes(time.monotonic() + FLUSH_HANDSHAKE_WAIT_SECONDS)
            self._admit_new_peers()
            for readable in connection.wait(self._peers, 0):  # type: ignore[arg-type]
                self._receive(readable, received)  # type: ignore[arg-type]
        if received or self._flush_requests:
            self._write(received)
        for peer in self._peers:
            peer.push()
        self.writer.tick()
        return bool(ready)

    def _await_handshakes(self, deadline: float) -> None:
        """Let the handshakes under way end (or the deadline pass): a peer sends its records as soon as
        its side of the handshake is done, which may be before this side has taken it in."""
        while self._handshaking and time.monotonic() < deadline:
            time.sleep(0.001)

    def _admit_new_peers(self) -> None:
        """Take the peers whose handshakes have finished into the rounds."""
        taken = self._new[:]
        del self._new[: len(taken)]  # a handshake thread may append meanwhile
        self._peers += [_Peer(conn) for conn in taken]

    def _gather(self, received: list[tuple[_Peer, bytes]]) -> None:
        """Let a trickle of small batches (pool workers send one per task) pile up for a moment, so that
        one round writes them all: a round has a fixed cost (the Arrow calls, the commit)."""
        deadline = time.monotonic() + GATHER_SECONDS
        while not self._hurry and _gathering(received):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            for peer in connection.wait(self._peers, remaining):  # type: ignore[arg-type]
                self._receive(peer, received)  # type: ignore[arg-type]

    def _receive(self, peer: _Peer, received: list[tuple[_Peer, bytes]]) -> None:
        try:
            messages, gone = peer.receive()
        except RejectedPayload as exc:  # refused unread: the peer is cut off
            self.writer.reject(str(exc), oversized=isinstance(exc, _Oversized))
            peer.inbox.clear()
            messages, gone = [], True
        for message in messages:
            if message == SYNC:
                self._hurry = True
            elif message == GATHERED:
                peer.gathering = False
            elif message == FLUSH:
                self._hurry = True
                self._flush_requests.append(peer)
            elif message == STOP or message.startswith(STOP + b":"):
                self._hurry = True
                self._stop_requests.append(peer)
                with contextlib.suppress(ValueError):
                    self._drain_seconds = float(message[len(STOP) + 1 :] or DRAIN_SECONDS)
            else:
                received.append((peer, message))
        if gone:
            if peer.inbox:
                self.writer.reject("a peer left in the middle of a message")
            self._peers.remove(peer)
            peer.close()

    def _write(self, received: list[tuple[_Peer, bytes]]) -> None:
        batches: list[Batch] = []
        last: dict[_Peer, int] = {}
        unreadable: dict[_Peer, int] = {}
        for peer, payload in received:
            try:
                batch = decode_batch(payload)
                batch = bound(batch)  # whatever the sender sent
            except Unbounded as exc:  # decoded, but past every bound: kept aside, reported lost
                self.writer.reject(str(exc), payload, oversized=True)
                unreadable[peer] = unreadable.get(peer, 0) + exc.records
                peer.prefix = batch.meta[3]
                if batch.seq:
                    last[peer] = peer.last_seq = batch.seq
                continue
            except RejectedPayload as exc:
                self.writer.reject(str(exc), payload)
                unreadable[peer] = unreadable.get(peer, 0) + 1  # records unknown: at least one each
                continue
            batches.append(batch)
            if peer.asked:
                self.writer.stats.gathered += batch.size
            peer.prefix = batch.meta[3]
            if batch.seq:
                last[peer] = peer.last_seq = batch.seq
        lost = self.writer.write(batches)  # written, pushed to the operating system and committed
        if self._flush_requests:  # FLUSH: the rows must be visible to readers before the ACK
            self.writer.close_parts()
            for peer in self._flush_requests:
                last[peer] = peer.last_seq
            self._flush_requests.clear()
        for peer, seq in last.items():
            count = lost.pop(peer.prefix, 0) + unreadable.get(peer, 0)
            if count:  # before the ACK: the sender learns that these records are not on disk
                peer.send(LOST + str(count).encode())
            peer.send(ACK + str(seq).encode())

    def _gather_senders(self, deadline: float) -> None:
        """Ask every connected process but the stop's requesters to hand over what it buffers, and read
        until each has answered or left, or the deadline."""
        for peer in self._peers:
            if peer not in self._stop_requests:
                peer.asked = peer.gathering = True
                peer.send(GATHER)
        while any(peer.gathering for peer in self._peers):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._round(min(remaining, TICK_SECONDS))

    def _drain(self, deadline: float) -> None:
        """Read until every connection has been quiet for a moment, or the deadline."""
        while time.monotonic() < deadline and self._round(DRAIN_QUIET_SECONDS):
            pass


def _gathering(received: list[tuple[_Peer, bytes]]) -> bool:
    """Whether a round should wait for more: less than GATHER_BYTES in all, and no busy process's batch."""
    sizes = [len(payload) for _, payload in received]
    return sum(sizes) < GATHER_BYTES and max(sizes, default=0) < BUSY_BATCH_BYTES


class _Peer:
    """One admitted connection, read and written without blocking."""

    def __init__(self, conn: connection.Connection) -> None:
        self.conn = conn
        self.fd = conn.fileno()
        os.set_blocking(self.fd, False)
        self.inbox = bytearray()
        self.outbox = bytearray()
        self.closed = False
        self.last_seq = 0  # the last batch number received from this peer
        self.asked = False  # asked at stop to hand over what it buffers (GATHER)
        self.gathering = False  # asked, and not yet answered (GATHERED)
        self.prefix = ""  # the id prefix of its batches (one sender process per connection)

    def fileno(self) -> int:
        return self.fd

    def receive(self) -> tuple[list[bytes], bool]:
        """The messages completed by what has arrived, and whether the peer has gone."""
        gone = False
        for _ in range(16):  # at most 16 MiB a round, to be fair to the other peers
            try:
                chunk = os.read(self.fd, READ_CHUNK)
            except BlockingIOError:
                break
            except OSError:
                gone = True
                break
            if not chunk:
                gone = True
                break
            self.inbox += chunk
            if len(chunk) < READ_CHUNK:
                break
        return self._messages(), gone

    def _messages(self) -> list[bytes]:
        """Cut the complete messages (multiprocessing.connection framing) off the inbox."""
        box, start, messages = self.inbox, 0, []
        with memoryview(box) as view:
            while len(box) - start >= 4:
                (size,) = struct.unpack_from("!i", box, start)
                header = 4
                if size == -1:
                    if len(box) - start < 12:
                        break
                    (size,) = struct.unpack_from("!Q", box, start + 4)
                    header = 12
                if size < 0 or size > MAX_MESSAGE:  # senders split larger batches
                    raise _Oversized(f"a peer announced a message of {size} bytes (at most {MAX_MESSAGE})")
                end = start + header + size
                if end > len(box):
                    break
                messages.append(view[start + header : end].tobytes())
                start = end
        del box[:start]
        return messages

    def send(self, message: bytes, wait: bool = False) -> None:
        """Queue a message for the peer and write what the socket takes now (all of it if `wait`)."""
        if self.closed:
            return
        self.outbox += struct.pack("!i", len(message)) + message
        if wait:
            with contextlib.suppress(OSError):
                os.set_blocking(self.fd, True)
        self.push()

    def push(self) -> None:
        while self.outbox and not self.closed:
            try:
                written = os.write(self.fd, self.outbox)
            except BlockingIOError:
                return
            except OSError:
                self.outbox.clear()
                return
            del self.outbox[:written]

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.conn.close()


class _Oversized(RejectedPayload):
    """A message larger than MAX_MESSAGE: refused unread, and its peer cut off."""
