"""The handshake between the runtime caller and the container's init, over a socketpair.

A SOCK_SEQPACKET pair keeps message boundaries, so the short-lived middle process and the
init can both write to the caller without interleaving. Each message is one JSON object,
optionally carrying file descriptors (SCM_RIGHTS). The init's end is close-on-exec: when the
caller sees EOF after sending ``start`` the exec succeeded.

Messages (child -> caller): ``{"type": "pid", "pid": N}`` from the middle process,
``{"type": "ready"}`` or ``{"type": "error", "message": ...}`` from the init, and
``{"type": "console"}`` with the pty master fd attached. Caller -> init: ``{"type": "start"}``.

Must not know what the messages cause; container.py drives the protocol.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Channel", "Message", "channel_pair"]

_MAX = 65536


@dataclass(frozen=True)
class Message:
    type: str
    body: dict[str, Any] = field(default_factory=dict)
    fds: tuple[int, ...] = ()


class Channel:
    """One end of the handshake socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, type: str, fds: tuple[int, ...] = (), **body: Any) -> None:
        data = json.dumps({"type": type, **body}).encode()
        if fds:
            socket.send_fds(self.sock, [data], list(fds))
        else:
            self.sock.send(data)

    def recv(self, timeout: float | None = None) -> Message | None:
        """The next message, or None on EOF (the peer exited or exec'd)."""
        self.sock.settimeout(timeout)
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.sock, _MAX, 4)
        finally:
            self.sock.settimeout(None)
        if not data:
            for fd in fds:
                socket.close(fd)
            return None
        raw = json.loads(data)
        kind = str(raw.pop("type"))
        return Message(kind, raw, tuple(fds))

    def close(self) -> None:
        self.sock.close()


def channel_pair() -> tuple[Channel, Channel]:
    """(caller end, child end); both close-on-exec."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    return Channel(a), Channel(b)
