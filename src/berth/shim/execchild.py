"""Start an exec'd process from a short-lived child of the shim, the cgroup lock primed meanwhile.

What the runtime's exec path does in its caller (read state.json and config.json, the seccomp
program, the handshake with the new process) writes to pages the shim shares copy-on-write
with the shim factory: done in the shim, the first exec left ~1.1-1.4 MB more in it for the
container's whole life (bench/README.md), which health checks make every container pay. Here
a child of the shim calls the backend's ``exec``, sends the pid (and the pty master with a
tty) back over a socket pair and exits, taking those pages with it. The exec'd process is
this child's child, so once the child is gone it is reparented to the shim, the nearest
child subreaper, which reaps it as before (the caller registers the pid before it returns to
the loop, the only place the shim reaps). Errors travel as the shim
protocol's error replies, so the caller sees the class the backend raised.

The child costs time the shim did not spend: its fork and the copy-on-write faults of
everything it touches (~3-4 ms before the runtime's fork, ~1 ms to hand the answer back).
The largest step of an exec is elsewhere, though: the exec'd process's join of the
container's cgroup waits ~15 ms for an RCU grace period on the kernel's migration lock
(berth.runtime.cgroups.prime). The shim, idle while the child works, moves itself into its
own cgroup at once, so that wait runs beside the child's fork and preparation instead of
after them, and the join finds the lock ready.

Must not be used with a backend that keeps state in the process between its calls.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence

from berth.errors import Internal
from berth.runtime.cgroups import prime as cgroupprime
from berth.shim import protocol
from berth.shim.backend import Backend
from berth.shim.creator import decode_answer, fork_child, read_answer, reset_signals, send_error

__all__ = ["exec_in_child"]


def _child(sock: socket.socket, backend: Backend, id: str, args: Sequence[str],
           env: Sequence[str], cwd: str, user: str, privileged: bool, tty: bool,
           stdin: int | None, stdout: int | None, stderr: int | None) -> None:
    reset_signals()
    try:
        pid, console_fd = backend.exec(id, args, env, cwd, user, privileged, tty, stdin,
                                       stdout, stderr)
    except Exception as exc:
        send_error(sock, exc)
        return
    socket.send_fds(sock, [protocol.encode_ok({"pid": pid})],
                    [console_fd] if console_fd is not None else [])


def exec_in_child(backend: Backend, id: str, args: Sequence[str], env: Sequence[str], cwd: str,
                  user: str, privileged: bool, tty: bool, stdin: int | None, stdout: int | None,
                  stderr: int | None) -> tuple[int, int | None]:
    """``backend.exec`` from a child that exits once the process is started: (pid, pty master)."""
    ours = fork_child(lambda sock: _child(sock, backend, id, args, env, cwd, user, privileged,
                                          tty, stdin, stdout, stderr))
    try:
        # Returns once the kernel has moved us: by then the child is about as far as its join.
        cgroupprime.prime()
        line, fds = read_answer(ours)
    finally:
        ours.close()
    try:
        body = decode_answer(line, "exec")
        pid = body.get("pid")
        if not isinstance(pid, int):
            raise Internal(f"shim exec child: bad answer {line[:200]!r}")
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return pid, fds[0] if fds else None
