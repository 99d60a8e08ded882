"""OTLP/HTTP protobuf sender: one class, the standard library's HTTP client, nothing else.

:class:`OtlpHttpExporter` posts request bodies to ``<endpoint>`` (``/v1/traces`` added when the URL has no
path), gzip-compressed by default, with the caller's headers, over one kept-alive connection. Each request
has its own timeout. A 429, 502, 503 or 504 answer, a timeout or a broken connection is retried with
exponential back-off (doubling from ``backoff`` seconds, with jitter), waiting what ``Retry-After`` asks
when the server says; after ``max_retries`` retries the batch is given up (:attr:`ExportResult.FAILURE`).
``on_retry``, when given, hears of each failed attempt at once (why, the wait, the retries left).
Any other 4xx is the caller's mistake and raises :class:`OtlpRejected` at once; any other answer (a 500,
a redirect) fails the batch without a retry. A 2xx answer may carry
``partial_success``: the spans the server rejected are counted (:attr:`ExportResult.PARTIAL`).
"""

from __future__ import annotations

import email.utils
import enum
import gzip
import http.client
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from types import TracebackType
from typing import Any

__all__ = ["ExportResult", "OtlpHttpExporter", "OtlpRejected", "Outcome", "traces_url"]

TRACES_PATH = "/v1/traces"
RETRYABLE = frozenset({429, 502, 503, 504})
GZIP_LEVEL = 1  # a local collector is fast to reach; compressing hard would cost more than it saves


class ExportResult(enum.Enum):
    """What became of one batch."""

    SUCCESS = "success"  # every span accepted
    PARTIAL = "partial"  # accepted, but the server rejected some spans (partial_success)
    FAILURE = "failure"  # not delivered: retries exhausted, or the server asked to wait too long


class OtlpRejected(Exception):
    """The server refused a request for good (a 4xx other than 429): a wrong URL, token or payload."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        self.status, self.reason, self.detail = status, reason, detail
        super().__init__(f"HTTP {status} {reason}" + (f": {detail}" if detail else ""))


@dataclass(frozen=True)
class Outcome:
    """One batch's result, the spans the server rejected, its message and the retries it took."""

    result: ExportResult
    rejected: int = 0
    message: str = ""
    retries: int = 0


def traces_url(endpoint: str) -> urllib.parse.SplitResult:
    """The URL to post to: ``endpoint`` as given, or with ``/v1/traces`` when it has no path."""
    url = urllib.parse.urlsplit(endpoint)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f"OTLP endpoint must be an http:// or https:// URL, not {endpoint!r}")
    return url._replace(path=url.path if url.path.strip("/") else TRACES_PATH)


class OtlpHttpExporter:
    """Posts serialized ``ExportTraceServiceRequest`` bodies to one OTLP/HTTP endpoint."""

    def __init__(
        self,
        endpoint: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        compression: str | None = "gzip",
        max_retries: int = 6,
        backoff: float = 1.0,
        max_wait: float = 60.0,
        sleep: Callable[[float], Any] | None = None,
        on_retry: Callable[[str, float, int], Any] | None = None,
    ) -> None:
        if compression not in ("gzip", None):
            raise ValueError(f"compression must be 'gzip' or None, not {compression!r}")
        self.url = traces_url(endpoint)
        self.timeout, self.compression = timeout, compression
        self.max_retries, self.backoff, self.max_wait = max_retries, backoff, max_wait
        self._aborted = threading.Event()
        self._sleep = sleep or self._aborted.wait
        self._on_retry = on_retry  # told (why, seconds to wait, retries left) before each wait
        self._headers = {
            "Content-Type": "application/x-protobuf",
            "User-Agent": f"mpmon/{_version()}",
            **({"Content-Encoding": "gzip"} if compression else {}),
            **dict(headers or {}),
        }
        self._connection: http.client.HTTPConnection | None = None
        self._response_type = _response_class()

    def export(self, body: bytes) -> Outcome:
        """Send one request body, retrying what may succeed later; raise :class:`OtlpRejected` on a 4xx."""
        payload = gzip.compress(body, compresslevel=GZIP_LEVEL) if self.compression else body
        for attempt in range(self.max_retries + 1):
            if self._aborted.is_set():
                return Outcome(ExportResult.FAILURE, message="export stopped", retries=attempt)
            try:
                status, reason, headers, answer = self._post(payload)
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                wait, why = self._delay(attempt, None), f"{type(exc).__name__}: {exc}"
            else:
                if 200 <= status < 300:
                    return self._accepted(answer, attempt)
                if 400 <= status < 500 and status not in RETRYABLE:
                    raise OtlpRejected(status, reason, _status_message(answer))
                if status not in RETRYABLE:  # a server error OTLP calls final, or a redirect: not retried
                    detail = _status_message(answer)
                    message = f"HTTP {status} {reason}" + (f": {detail}" if detail else "")
                    return Outcome(ExportResult.FAILURE, message=message, retries=attempt)
                wait, why = self._delay(attempt, headers.get("Retry-After")), f"HTTP {status} {reason}"
            if attempt == self.max_retries or wait > self.max_wait:
                return Outcome(ExportResult.FAILURE, message=f"gave up after {attempt + 1} attempts: {why}",
                               retries=attempt)  # fmt: skip
            if self._on_retry is not None:
                self._on_retry(why, wait, self.max_retries - attempt)
            self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def abort(self) -> None:
        """Stop retrying: a waiting or later :meth:`export` gives up (for a caller that stops early)."""
        self._aborted.set()

    def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> OtlpHttpExporter:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # -- one attempt --------------------------------------------------------------------------------------

    def _post(self, payload: bytes) -> tuple[int, str, Mapping[str, str], bytes]:
        """One POST: on the kept-alive connection, once more on a new one if the server had closed it."""
        if self._connection is not None:
            try:
                return self._post_once(payload)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()  # closed while idle: not a failure of the server, no back-off
        return self._post_once(payload)

    def _post_once(self, payload: bytes) -> tuple[int, str, Mapping[str, str], bytes]:
        """One POST on the connection (opened if needed): status, reason, headers, the body read in full."""
        if self._connection is None:
            kind = http.client.HTTPSConnection if self.url.scheme == "https" else http.client.HTTPConnection
            self._connection = kind(self.url.hostname or "", self.url.port, timeout=self.timeout)
        path = self.url.path + (f"?{self.url.query}" if self.url.query else "")
        self._connection.request("POST", path, body=payload, headers=self._headers)
        response = self._connection.getresponse()
        answer = response.read()
        if response.will_close:
            self.close()
        return response.status, response.reason, response.headers, answer  # type: ignore[return-value]

    def _accepted(self, answer: bytes, retries: int) -> Outcome:
        """A 2xx answer: SUCCESS, or PARTIAL when ``partial_success`` rejected spans."""
        try:
            partial = self._response_type.FromString(answer).partial_success
        except Exception:  # a body that is not an ExportTraceServiceResponse: accepted all the same
            return Outcome(ExportResult.SUCCESS, retries=retries)
        rejected, message = int(partial.rejected_spans), str(partial.error_message)
        if rejected or message:
            return Outcome(ExportResult.PARTIAL, rejected, message, retries)
        return Outcome(ExportResult.SUCCESS, retries=retries)

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before the next attempt: what ``Retry-After`` says, else back-off with jitter."""
        asked = _retry_after_seconds(retry_after)
        if asked is not None:
            return asked
        return float(self.backoff * 2**attempt * random.uniform(0.8, 1.2))


def _retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _status_message(answer: bytes) -> str:
    """The message of an error answer: a ``google.rpc.Status`` (field 2) when it is one, else its text."""
    message = _protobuf_string(answer, 2)
    if message is not None:
        return message
    return answer[:300].decode("utf-8", "replace").strip()


def _protobuf_string(data: bytes, number: int) -> str | None:
    """Field ``number`` of a protobuf message when ``data`` parses as one with that string field."""
    i, found = 0, None
    try:
        while i < len(data):
            key, i = _read_varint(data, i)
            wire = key & 7
            if wire == 0:
                _, i = _read_varint(data, i)
            elif wire == 2:
                size, i = _read_varint(data, i)
                if i + size > len(data):
                    return None
                if key >> 3 == number:
                    found = data[i : i + size].decode("utf-8")
                i += size
            elif wire in (1, 5):
                i += 8 if wire == 1 else 4
            else:
                return None
    except (IndexError, UnicodeDecodeError):
        return None
    return found if i == len(data) else None


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    """A varint at ``data[i:]``: its value and the index after it."""
    value = shift = 0
    while True:
        byte = data[i]
        value |= (byte & 0x7F) << shift
        i += 1
        if byte < 0x80:
            return value, i
        shift += 7


def _response_class() -> Any:
    """``ExportTraceServiceResponse`` from opentelemetry-proto (imported only when exporting)."""
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    return trace_service_pb2.ExportTraceServiceResponse


def _version() -> str:
    try:
        return metadata.version("mpmon")
    except metadata.PackageNotFoundError:
        return "unknown"
