"""The local terminal for ``-t``: size, raw mode (always restored), and SIGWINCH hooks.

Owns termios/ioctl calls on the CLI's own stdin/stdout. Must not talk to the daemon.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import termios
import tty
from collections.abc import Iterator

__all__ = ["raw_mode", "terminal_size"]


def terminal_size(fd: int) -> tuple[int, int] | None:
    """(rows, cols) of the terminal on ``fd`` or None when it is not a terminal."""
    try:
        packed = fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return None
    rows, cols = struct.unpack("HHHH", packed)[:2]
    return (rows, cols) if rows and cols else None


@contextlib.contextmanager
def raw_mode(fd: int) -> Iterator[None]:
    """Put ``fd`` in raw mode for the block when it is a tty; restore it however we leave."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
