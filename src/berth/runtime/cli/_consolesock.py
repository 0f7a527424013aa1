"""runc's ``--console-socket`` protocol, sending side: hand the pty master to the caller.

The caller listens on a unix stream socket; the runtime connects and sends one message whose
data is the terminal's name and whose SCM_RIGHTS payload is the master fd, then closes.
"""

from __future__ import annotations

import os

from berth.errors import RuntimeFailure

__all__ = ["send_console"]


def send_console(socket_path: str, master_fd: int) -> None:
    """Send ``master_fd`` over ``socket_path`` and close it here."""
    import socket  # only with a terminal; its import costs ~3 ms of every start

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(socket_path)
            socket.send_fds(sock, [b"/dev/ptmx"], [master_fd])
    except OSError as exc:
        raise RuntimeFailure(f"send console to {socket_path}: {exc.strerror or exc}") from exc
    finally:
        os.close(master_fd)
