"""HTTP/1.1 requests over a :class:`~berth.client.transport.Transport` (stdlib http.client).

Owns request encoding, status checking and response bodies (whole, JSON, streamed). One
connection per request: unix-socket connects are cheap and it makes concurrent use from
threads (run's attach/wait/start) safe. Must not know any Engine API route.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode

from berth.client.statuses import error_for_status
from berth.client.transport import Transport
from berth.errors import Unavailable

__all__ = ["Query", "Request", "Response", "build_path", "send"]

Query = Mapping[str, str | int | bool | list[str] | None]


class _TransportConnection(http.client.HTTPConnection):
    """HTTPConnection whose socket comes from a Transport instead of TCP."""

    def __init__(self, transport: Transport, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self._transport = transport
        self._connect_timeout = timeout

    def connect(self) -> None:
        self.sock = self._transport.connect(self._connect_timeout)


def build_path(path: str, query: Query | None) -> str:
    """``path?query`` with Go-style bools (1/0) and repeated keys for lists; None is omitted."""
    pairs: list[tuple[str, str]] = []
    for key, value in (query or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            pairs.append((key, "1" if value else "0"))
        elif isinstance(value, list):
            pairs.extend((key, v) for v in value)
        else:
            pairs.append((key, str(value)))
    quoted = quote(path, safe="/:@")
    return f"{quoted}?{urlencode(pairs)}" if pairs else quoted


@dataclass(frozen=True)
class Request:
    """One API call. ``body`` is JSON-encoded unless it is bytes or a binary stream."""

    method: str
    path: str
    query: Query | None = None
    body: Any = None
    headers: Mapping[str, str] | None = None
    timeout: float | None = None


class Response:
    """A successful (2xx/101) response; the body may still be unread (streams)."""

    def __init__(self, conn: _TransportConnection, raw: http.client.HTTPResponse) -> None:
        self._conn = conn
        self.raw = raw
        self.status = raw.status
        self.headers = raw.headers

    def read(self) -> bytes:
        try:
            return self.raw.read()
        finally:
            self.close()

    def json(self) -> Any:
        data = self.read()
        return json.loads(data) if data.strip() else None

    def iter_lines(self) -> Iterator[bytes]:
        """Body lines as they arrive (chunked streams are flushed per line by the daemon)."""
        try:
            while True:
                line = self.raw.readline()
                if not line:
                    return
                yield line
        finally:
            self.close()

    def read_some(self, n: int = 65536) -> bytes:
        return self.raw.read1(n)

    def close(self) -> None:
        self.raw.close()
        self._conn.close()

    def shutdown(self) -> None:
        """Abort the connection from another thread (a blocked reader then sees EOF/error)."""
        sock = self._conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _encode_body(req: Request, headers: dict[str, str]) -> tuple[Any, bool]:
    body = req.body
    if body is None:
        return None, False
    if isinstance(body, bytes):
        headers.setdefault("Content-Type", "application/octet-stream")
        return body, False
    if hasattr(body, "read"):
        headers.setdefault("Content-Type", "application/x-tar")
        return _chunks(body), True
    headers["Content-Type"] = "application/json"
    return json.dumps(body).encode(), False


def _chunks(stream: BinaryIO) -> Iterable[bytes]:
    while True:
        chunk = stream.read(65536)
        if not chunk:
            return
        yield chunk


def send(transport: Transport, prefix: str, req: Request) -> Response:
    """Send ``req`` and return the response once its headers have arrived; raise on >= 300."""
    conn = _TransportConnection(transport, req.timeout)
    headers = {"User-Agent": "berth-cli", **dict(req.headers or {})}
    body, chunked = _encode_body(req, headers)
    try:
        conn.request(req.method, prefix + build_path(req.path, req.query), body=body,
                     headers=headers, encode_chunked=chunked)
        raw = conn.getresponse()
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        raise Unavailable(f"error talking to the daemon at {transport.describe()}: {exc}") from exc
    if raw.status >= 300:
        try:
            data = raw.read()
        finally:
            conn.close()
        raise error_for_status(raw.status, data)
    return Response(conn, raw)
