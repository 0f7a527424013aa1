"""Hijacked connections (attach, exec start): HTTP upgrade to a raw bidirectional socket.

Owns sending the upgrade request and reading the ``101`` response without losing stream
bytes that arrive in the same read as the headers. Must not interpret the stream contents.
"""

from __future__ import annotations

import contextlib
import socket

from berth.client.http import Query, build_path
from berth.client.statuses import error_for_status
from berth.client.transport import Transport
from berth.errors import Unavailable

__all__ = ["HijackedStream", "hijack"]

_MAX_HEAD = 65536


class HijackedStream:
    """The raw socket after ``101``; ``initial`` holds stream bytes read along with the headers."""

    def __init__(self, sock: socket.socket, initial: bytes, content_type: str) -> None:
        self.sock = sock
        self.initial = initial
        self.content_type = content_type

    def recv(self, n: int = 65536) -> bytes:
        if self.initial:
            data, self.initial = self.initial, b""
            return data
        return self.sock.recv(n)

    def send_all(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_write(self) -> None:
        """Half-close: tells the daemon stdin reached EOF while output keeps flowing."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.sock.close()


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise Unavailable("daemon closed the connection during the attach upgrade")
        buf += chunk
        if len(buf) > _MAX_HEAD:
            raise Unavailable("attach upgrade response headers too large")
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def _body_of(sock: socket.socket, headers: dict[str, str], rest: bytes) -> bytes:
    length = int(headers.get("content-length", "0") or 0)
    body = rest
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            break
        body += chunk
    return body


def hijack(transport: Transport, prefix: str, path: str, query: Query | None) -> HijackedStream:
    """POST ``path`` with ``Upgrade: tcp`` and return the raw stream; raise on non-101."""
    sock = transport.connect(None)
    request = (
        f"POST {prefix}{build_path(path, query)} HTTP/1.1\r\n"
        "Host: localhost\r\nUser-Agent: berth-cli\r\n"
        "Content-Type: text/plain\r\nContent-Length: 0\r\n"
        "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    )
    try:
        sock.sendall(request.encode())
        head, rest = _read_head(sock)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        if status != 101:
            if status >= 300:
                raise error_for_status(status, _body_of(sock, headers, rest))
            raise Unavailable(f"attach: expected 101 Switching Protocols, got {lines[0]!r}")
    except BaseException:
        sock.close()
        raise
    return HijackedStream(sock=sock, initial=rest, content_type=headers.get("content-type", ""))
