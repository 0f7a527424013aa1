"""The handshake between the runtime caller and the container's init, over a socketpair.

A SOCK_SEQPACKET pair keeps message boundaries, so the short-lived middle process and the
init can both write to the caller without interleaving. Each message is one JSON object,
optionally carrying file descriptors (SCM_RIGHTS). The init's end is close-on-exec: when the
caller sees EOF after sending ``start`` the exec succeeded.

Messages (child -> caller): ``{"type": "pid", "pid": N}`` from the middle process,
``{"type": "ready"}`` or ``{"type": "error", "message": ...}`` from the init, and
``{"type": "console"}`` with the pty master fd attached. Caller -> init: ``{"type": "start"}``.

Must not know what the messages cause; container.py drives the protocol.

Built on ``_socket``, not ``socket``: the ``socket`` module's import (its IntEnums, selectors)
cost ~3 ms of every ``berth-runtime`` start, and the two calls needed here are short.
"""

from __future__ import annotations

import _socket
import os
import struct

from berth.record import Record, field
from berth.runtime import _fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Channel", "Message", "channel_pair"]

_MAX = 65536
_MAX_FDS = 4


class Message(Record):
    type: str
    body: dict[str, Any] = field(default_factory=dict)
    fds: tuple[int, ...] = ()


class Channel:
    """One end of the handshake socket."""

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, type: str, fds: tuple[int, ...] = (), **body: Any) -> None:
        data = _fastjson.dumps({"type": type, **body}).encode()
        if fds:
            rights = struct.pack(f"{len(fds)}i", *fds)
            self.sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
        else:
            self.sock.send(data)

    def recv(self, timeout: float | None = None) -> Message | None:
        """The next message, or None on EOF (the peer exited or exec'd)."""
        self.sock.settimeout(timeout)
        try:
            data, ancillary, _flags, _addr = self.sock.recvmsg(_MAX, _socket.CMSG_LEN(4 * _MAX_FDS))
        finally:
            self.sock.settimeout(None)
        fds: list[int] = []
        for level, cmsg_type, payload in ancillary:
            if level == _socket.SOL_SOCKET and cmsg_type == _socket.SCM_RIGHTS:
                whole = len(payload) - len(payload) % 4
                fds.extend(struct.unpack(f"{whole // 4}i", payload[:whole]))
        if not data:
            for fd in fds:
                os.close(fd)
            return None
        raw = _fastjson.loads(data)
        kind = str(raw.pop("type"))
        return Message(kind, raw, tuple(fds))

    def close(self) -> None:
        self.sock.close()


def channel_pair() -> tuple[Channel, Channel]:
    """(caller end, child end); both close-on-exec."""
    a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    return Channel(a), Channel(b)
