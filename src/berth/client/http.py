"""HTTP/1.1 requests over a :class:`~berth.client.transport.Transport`, without http.client.

Owns request encoding (JSON, bytes, or a binary stream sent chunked), status checking and
response bodies (whole, JSON, line by line, streamed; Content-Length, chunked or up to EOF).
One connection per request: unix-socket connects are cheap and it makes concurrent use from
threads (run's attach/wait/start) safe. Must not know any Engine API route.

Not http.client: importing it pulls in ``email.*`` and ``ssl`` (~30 ms, a tenth of a CLI
command); the Engine API needs only the small part of HTTP/1.1 written here.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode

from berth.client.statuses import error_for_status
from berth.client.transport import Transport
from berth.errors import Unavailable
from berth.record import Record

__all__ = ["Headers", "Query", "Request", "Response", "build_path", "read_head", "send"]

Query = Mapping[str, str | int | bool | list[str] | None]

_MAX_LINE = 65536
_MAX_HEADERS = 200


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


class Request(Record):
    """One API call. ``body`` is JSON-encoded unless it is bytes or a binary stream."""

    method: str
    path: str
    query: Query | None = None
    body: Any = None
    headers: Mapping[str, str] | None = None
    timeout: float | None = None


class Headers:
    """Response header fields; names match case-insensitively, repeated fields are joined."""

    def __init__(self, fields: Iterable[tuple[str, str]]) -> None:
        self._fields: dict[str, str] = {}
        for name, value in fields:
            key = name.lower()
            self._fields[key] = f"{self._fields[key]}, {value}" if key in self._fields else value

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._fields.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fields

    def __getitem__(self, name: str) -> str:
        return self._fields[name.lower()]


class _Body:
    """Reads one response body from the connection's buffered reader, framed by
    Content-Length, chunked transfer coding, or the end of the connection."""

    def __init__(self, rfile: io.BufferedReader, length: int | None, chunked: bool) -> None:
        self._rfile = rfile
        self._left = length          # bytes left (length-framed), None otherwise
        self._chunked = chunked
        self._chunk_left = 0         # bytes left in the current chunk
        self._done = length == 0

    def read1(self, n: int) -> bytes:
        """Up to ``n`` bytes, at least one unless the body ended (b"")."""
        if self._done:
            return b""
        if self._chunked:
            if self._chunk_left == 0 and not self._next_chunk():
                return b""
            data = self._rfile.read1(min(n, self._chunk_left))
            if not data:
                raise Unavailable("daemon closed the connection inside a chunk")
            self._chunk_left -= len(data)
            if self._chunk_left == 0:
                self._expect_crlf()
            return bytes(data)
        want = n if self._left is None else min(n, self._left)
        data = self._rfile.read1(want)
        if self._left is not None:
            if not data:
                raise Unavailable("daemon closed the connection before the end of the body")
            self._left -= len(data)
            self._done = self._left == 0
        elif not data:
            self._done = True
        return bytes(data)

    def read(self) -> bytes:
        parts = []
        while chunk := self.read1(1 << 20):
            parts.append(chunk)
        return b"".join(parts)

    def readline(self) -> bytes:
        """One line (with its newline; the last may lack one), or b"" at the end."""
        line = bytearray()
        while True:
            if self._done:
                return bytes(line)
            if self._chunked:
                if self._chunk_left == 0 and not self._next_chunk():
                    return bytes(line)
                part = self._rfile.readline(self._chunk_left)
                if not part:
                    raise Unavailable("daemon closed the connection inside a chunk")
                self._chunk_left -= len(part)
                if self._chunk_left == 0:
                    self._expect_crlf()
            else:
                limit = -1 if self._left is None else self._left
                part = self._rfile.readline(limit)
                if self._left is not None:
                    if not part:
                        raise Unavailable("daemon closed the connection before the end of the body")
                    self._left -= len(part)
                    self._done = self._left == 0
                elif not part:
                    self._done = True
                    return bytes(line)
            line += part
            if line.endswith(b"\n"):
                return bytes(line)

    def _next_chunk(self) -> bool:
        size_line = self._rfile.readline(_MAX_LINE)
        if not size_line:
            raise Unavailable("daemon closed the connection before the last chunk")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise Unavailable(f"malformed chunk size {size_line[:40]!r} from the daemon") from None
        if size == 0:
            while self._rfile.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                pass  # trailer fields
            self._done = True
            return False
        self._chunk_left = size
        return True

    def _expect_crlf(self) -> None:
        if self._rfile.readline(_MAX_LINE) not in (b"\r\n", b"\n"):
            raise Unavailable("malformed chunk from the daemon")


class Response:
    """A successful (2xx/101) response; the body may still be unread (streams)."""

    def __init__(self, sock: socket.socket, rfile: io.BufferedReader, status: int, headers: Headers,
                 body: _Body) -> None:
        self._sock = sock
        self._rfile = rfile
        self._body = body
        self.status = status
        self.headers = headers

    def read(self) -> bytes:
        try:
            return self._body.read()
        finally:
            self.close()

    def json(self) -> Any:
        data = self.read()
        return json.loads(data) if data.strip() else None

    def iter_lines(self) -> Iterator[bytes]:
        """Body lines as they arrive (chunked streams are flushed per line by the daemon)."""
        try:
            while True:
                line = self._body.readline()
                if not line:
                    return
                yield line
        finally:
            self.close()

    def read_some(self, n: int = 65536) -> bytes:
        return self._body.read1(n)

    def close(self) -> None:
        self._rfile.close()
        self._sock.close()

    def shutdown(self) -> None:
        """Abort the connection from another thread (a blocked reader then sees EOF/error)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)


def _encode_body(req: Request, headers: dict[str, str]) -> tuple[bytes | Iterable[bytes] | None, bool]:
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


def _write_request(sock: socket.socket, target: str, req: Request) -> None:
    headers = {"Host": "localhost", "User-Agent": "berth-cli", **dict(req.headers or {})}
    body, chunked = _encode_body(req, headers)
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
    elif isinstance(body, bytes):
        headers["Content-Length"] = str(len(body))
    elif req.method in ("POST", "PUT", "PATCH"):
        headers["Content-Length"] = "0"
    head = f"{req.method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    data = (head + "\r\n").encode("latin-1")
    if isinstance(body, bytes):
        sock.sendall(data + body)
        return
    sock.sendall(data)
    if body is not None:
        for chunk in body:
            if chunk:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        sock.sendall(b"0\r\n\r\n")


def read_head(rfile: io.BufferedReader) -> tuple[int, Headers]:
    """Status code and header fields of a response (skipping 1xx other than 101)."""
    while True:
        status_line = rfile.readline(_MAX_LINE)
        if not status_line:
            raise Unavailable("daemon closed the connection without a response")
        parts = status_line.decode("latin-1").split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise Unavailable(f"malformed response from the daemon: {status_line[:80]!r}")
        fields: list[tuple[str, str]] = []
        while True:
            line = rfile.readline(_MAX_LINE)
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                raise Unavailable("daemon closed the connection inside the response headers")
            if len(fields) >= _MAX_HEADERS:
                raise Unavailable("too many response header fields from the daemon")
            name, _, value = line.decode("latin-1").partition(":")
            fields.append((name.strip(), value.strip()))
        status = int(parts[1])
        if 100 <= status < 200 and status != 101:
            continue
        return status, Headers(fields)


def _body_for(rfile: io.BufferedReader, method: str, status: int, headers: Headers) -> _Body:
    if method == "HEAD" or status in (101, 204, 304):
        return _Body(rfile, 0, False)
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        return _Body(rfile, None, True)
    length = headers.get("Content-Length")
    if length is not None:
        try:
            return _Body(rfile, int(length), False)
        except ValueError:
            raise Unavailable(f"malformed Content-Length {length!r} from the daemon") from None
    return _Body(rfile, None, False)


def send(transport: Transport, prefix: str, req: Request) -> Response:
    """Send ``req`` and return the response once its headers have arrived; raise on >= 300."""
    sock = transport.connect(req.timeout)
    rfile = sock.makefile("rb")
    try:
        _write_request(sock, prefix + build_path(req.path, req.query), req)
        status, headers = read_head(rfile)
        body = _body_for(rfile, req.method, status, headers)
        if status >= 300:
            raise error_for_status(status, body.read())
    except OSError as exc:
        rfile.close()
        sock.close()
        raise Unavailable(f"error talking to the daemon at {transport.describe()}: {exc}") from exc
    except BaseException:
        rfile.close()
        sock.close()
        raise
    return Response(sock, rfile, status, headers, body)
