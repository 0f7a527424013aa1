"""The transport seam: how the client obtains a connected stream socket to the daemon.

Owns socket creation only; HTTP framing lives in ``berth.client.http``. Tests can pass any
object satisfying :class:`Transport` (e.g. one pointing at a socketpair or a test server).
"""

from __future__ import annotations

import socket
from typing import Protocol

from berth.errors import Unavailable
from berth.record import Record

__all__ = ["Transport", "UnixTransport"]


class Transport(Protocol):
    """Opens a fresh connected socket per call; the caller owns and closes it."""

    def connect(self, timeout: float | None) -> socket.socket: ...

    def describe(self) -> str:
        """The address, for error messages."""
        ...


class UnixTransport(Record):
    """Connects to a unix stream socket at ``path``."""

    path: str

    def connect(self, timeout: float | None) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(self.path)
        except OSError as exc:
            sock.close()
            raise Unavailable(
                f"Cannot connect to the berth daemon at unix://{self.path}. "
                "Is the berth daemon running?"
            ) from exc
        return sock

    def describe(self) -> str:
        return f"unix://{self.path}"
