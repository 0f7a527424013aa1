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

_SIOCSIFFLAGS: Final = 0x8914
_IFF_UP: Final = 0x1
_IFF_LOOPBACK: Final = 0x8


def bring_up_loopback() -> None:
    """``ip link set lo up`` in a network namespace the init has just made.

    A new namespace's lo has exactly IFF_LOOPBACK set (loopback_setup), so its flags are
    written without reading them first (SIOCSIFFLAGS keeps the flags it may not change).
    """
    # _socket, not socket: see berth.runtime.sync.
    try:
        s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
        try:
            fcntl.ioctl(s.fileno(), _SIOCSIFFLAGS,
                        struct.pack("16sh14x", b"lo", _IFF_LOOPBACK | _IFF_UP))
        finally:
            s.close()
    except OSError as exc:
        raise RuntimeFailure(f"bring up lo: {exc.strerror}") from exc
