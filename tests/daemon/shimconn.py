"""Making a live shim unreachable for a test: its socket moved away, replaced by one nobody
listens on (or, ``wedged`` from berth.testing.shimsilence, by one that never answers), its
accepted connections shut down (as a dropped connection would be), the shim itself left running."""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from berth.testing.shimsilence import bindable, wedged
from tests.conftest import Daemon

__all__ = ["drop_connections", "shim_socket", "unreachable", "wedged"]

_SYS_PIDFD_GETFD = 438  # the same number on every architecture berth runs on
_libc = ctypes.CDLL(None, use_errno=True)


def shim_socket(d: Daemon, cid: str) -> Path:
    return d.exec_root / "containers" / cid / "shim.sock"


@contextlib.contextmanager
def unreachable(path: Path, *, stale: bool) -> Iterator[None]:
    """Move the shim's socket away for the block (connects get ENOENT), or with ``stale``
    leave a socket file nobody listens on in its place (ECONNREFUSED); always put it back."""
    away = path.with_name("shim.sock.away")
    os.rename(path, away)
    try:
        if stale:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s, bindable(path) as address:
                s.bind(address)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):  # gone with an ended container's state dir
            os.rename(away, path)


def drop_connections(shim_pid: int) -> int:
    """Shut down every connection the shim accepted on its socket (berthd's wait among them),
    as a connection that drops does, leaving the shim itself alone; returns how many."""
    pidfd = os.pidfd_open(shim_pid)
    dropped = 0
    try:
        for entry in os.listdir(f"/proc/{shim_pid}/fd"):
            with contextlib.suppress(OSError):
                if not os.readlink(f"/proc/{shim_pid}/fd/{entry}").startswith("socket:"):
                    continue
            fd = _libc.syscall(_SYS_PIDFD_GETFD, pidfd, int(entry), 0)
            if fd < 0:
                continue
            with socket.socket(fileno=fd) as s:
                if (s.family != socket.AF_UNIX or s.type != socket.SOCK_STREAM
                        or s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)):
                    continue
                if str(s.getsockname()).endswith("shim.sock"):
                    s.shutdown(socket.SHUT_RDWR)
                    dropped += 1
    finally:
        os.close(pidfd)
    return dropped
