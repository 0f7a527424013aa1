"""Bringing ``lo`` up in a new network namespace; nothing else about networking."""

from __future__ import annotations

import _socket
import fcntl
import struct

from berth.errors import RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

__all__ = ["bring_up_loopback"]

_SIOCGIFFLAGS: Final = 0x8913
_SIOCSIFFLAGS: Final = 0x8914
_IFF_UP: Final = 0x1


def bring_up_loopback() -> None:
    # _socket, not socket: see berth.runtime.sync.
    try:
        s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
        try:
            req = struct.pack("16sh14x", b"lo", 0)
            flags = struct.unpack("16sh14x", fcntl.ioctl(s.fileno(), _SIOCGIFFLAGS, req))[1]
            fcntl.ioctl(s.fileno(), _SIOCSIFFLAGS, struct.pack("16sh14x", b"lo", flags | _IFF_UP))
        finally:
            s.close()
    except OSError as exc:
        raise RuntimeFailure(f"bring up lo: {exc.strerror}") from exc
