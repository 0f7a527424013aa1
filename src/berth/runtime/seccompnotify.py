"""Seccomp user notification: handing a process's notify fd to ``linux.seccomp.listenerPath``.

A filter with ``SCMP_ACT_NOTIFY`` rules is installed with a listener (``seccomp.install_listener``)
in the container's process, which passes the fd to the runtime over its setup channel; the
runtime then connects to the listener's unix stream socket and sends one message, as runc does:
the JSON process state below as data and the fd as SCM_RIGHTS, then closes its own copy::

    {"ociVersion": "1.0.2", "fds": ["seccompFd"], "pid": 1234,
     "metadata": "<listenerMetadata>", "state": {<the OCI state of the container>}}

Must not install filters or read notifications: the listener (a seccomp agent) owns those.
"""

from __future__ import annotations

import os

from berth.errors import RuntimeFailure
from berth.runtime import _fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = ["listener_of", "send_to_listener"]


def listener_of(linux: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(listenerPath, listenerMetadata)`` when the spec's filter wants a listener."""
    seccomp = linux.get("seccomp") or {}
    path = seccomp.get("listenerPath")
    notify = any(c.get("action") == "SCMP_ACT_NOTIFY" for c in seccomp.get("syscalls") or ())
    if not path:
        if notify:
            raise RuntimeFailure("seccomp: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath")
        return None
    if not notify:
        raise RuntimeFailure("seccomp: listenerPath is set but no syscall uses SCMP_ACT_NOTIFY")
    return str(path), str(seccomp.get("listenerMetadata") or "")


def send_to_listener(path: str, metadata: str, notify_fd: int, pid: int,
                     state: Mapping[str, Any]) -> None:
    """Send ``notify_fd`` with the process state to the listener and close it here."""
    import socket  # only for notify filters: its import costs ~3 ms of every start

    message = _fastjson.dumps({"ociVersion": "1.0.2", "fds": ["seccompFd"], "pid": pid,
                          "metadata": metadata, "state": dict(state)}).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(path)
            socket.send_fds(sock, [message], [notify_fd])
    except OSError as exc:
        raise RuntimeFailure(f"seccomp: send notify fd to {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(notify_fd)
