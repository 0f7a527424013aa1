"""runc's ``--console-socket`` protocol, receiving side: the pty master arrives over a unix socket.

runc (and crun) open the container's pty inside the container, connect to the socket given
with ``--console-socket`` and send the master as SCM_RIGHTS. The connection is queued in the
listening socket's backlog while the runtime runs, so the shim accepts it once the blocking
``runc create``/``exec --detach`` has returned.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from berth.errors import RuntimeFailure

__all__ = ["ConsoleSocket", "console_socket"]

_TIMEOUT = 5.0


class ConsoleSocket:
    """A listening socket in ``directory``; :meth:`receive` returns the pty master fd."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        # sun_path is 108 bytes: a short random name, not the container id.
        self.path = directory / f"c-{os.urandom(6).hex()}.sock"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(self.path))
        self._sock.listen(1)
        self._sock.settimeout(_TIMEOUT)

    def receive(self) -> int:
        try:
            conn, _ = self._sock.accept()
        except OSError as e:
            raise RuntimeFailure(f"console socket: the runtime sent no terminal ({e})") from e
        with conn:
            conn.settimeout(_TIMEOUT)
            try:
                _msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
            except OSError as e:
                raise RuntimeFailure(f"console socket: {e}") from e
        if not fds:
            raise RuntimeFailure("console socket: the runtime sent no terminal")
        os.set_inheritable(fds[0], False)
        return fds[0]

    def close(self) -> None:
        self._sock.close()
        self.path.unlink(missing_ok=True)


@contextmanager
def console_socket(directory: Path) -> Iterator[ConsoleSocket]:
    sock = ConsoleSocket(directory)
    try:
        yield sock
    finally:
        sock.close()
