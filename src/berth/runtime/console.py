"""The container's console: a pty from its own devpts instance.

The master is opened from /dev/pts/ptmx *inside* the container (after pivot_root) so the
pty belongs to the container's devpts, not the host's; the master fd is then handed to the
caller. Must not read or write terminal data: the shim owns that.
"""

from __future__ import annotations

import fcntl
import os
import struct
import termios

from berth.errors import RuntimeFailure
from berth.record import Record
from berth.runtime import _sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

__all__ = ["Pty", "bind_console", "make_controlling", "open_pty", "set_size"]

_TIOCGPTN: Final = 0x80045430
_TIOCSPTLCK: Final = 0x40045431


class Pty(Record):
    master: int
    slave: int
    slave_path: str


def open_pty(uid: int, gid: int | None) -> Pty:
    """Open and unlock a pty pair from /dev/pts/ptmx; the slave is owned by the process user."""
    try:
        master = os.open("/dev/pts/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        fcntl.ioctl(master, _TIOCSPTLCK, struct.pack("i", 0))
        (number,) = struct.unpack("I", fcntl.ioctl(master, _TIOCGPTN, b"\0\0\0\0"))
        slave_path = f"/dev/pts/{number}"
        slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        # tty group (5) as devpts' gid=5 mount option gives; the user must own its terminal.
        os.fchown(slave, uid, 5 if gid is None else gid)
        os.fchmod(slave, 0o620)
    except OSError as exc:
        raise RuntimeFailure(f"open console pty: {exc.strerror}") from exc
    return Pty(master, slave, slave_path)


def bind_console(pty: Pty) -> None:
    """Bind the slave over /dev/console, as runc does, so /dev/console is the container tty."""
    try:
        if not os.path.lexists("/dev/console"):
            os.close(os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
        _sys.mount(pty.slave_path, "/dev/console", None, _sys.MS_BIND)
    except OSError as exc:
        raise RuntimeFailure(f"bind /dev/console: {exc.strerror}") from exc


def make_controlling(pty: Pty) -> None:
    """Make the slave the controlling terminal (caller is a session leader) and stdio 0/1/2."""
    try:
        fcntl.ioctl(pty.slave, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(pty.slave, fd)
    except OSError as exc:
        raise RuntimeFailure(f"set controlling terminal: {exc.strerror}") from exc


def set_size(fd: int, rows: int, cols: int) -> None:
    """The terminal size a process document asks for (``consoleSize``)."""
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    except OSError as exc:
        raise RuntimeFailure(f"set console size: {exc.strerror}") from exc
