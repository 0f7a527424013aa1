"""The container's init process as the shim sees it, and reaping.

State machine (illegal transitions raise)::

    created --start--> running --exit--> stopped
       └──────────────exit──────────────────┘

Owns the status, exit code and exit time of the init. As a child subreaper the shim also
inherits the container's orphans; :func:`reap_children` reaps every exited child so none stays
a zombie. Must not signal or create processes (that is the runtime's job).
"""

from __future__ import annotations

import os

from berth.errors import Conflict, Internal, NotModified
from berth.shim.protocol import ExitStatus, ProcessStatus, ShimState

__all__ = ["InitProcess", "exit_code", "reap_children"]


def exit_code(wait_status: int) -> int:
    """The shell's view of a wait status: the exit status, or 128 + the killing signal."""
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


def reap_children() -> list[tuple[int, int]]:
    """Reap every child that has exited, without blocking: ``[(pid, exit code), ...]``."""
    reaped = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        reaped.append((pid, exit_code(status)))
    return reaped


class InitProcess:
    """The container's PID 1 (host PID ``pid``)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.status = ProcessStatus.CREATED
        self.exit: ExitStatus | None = None

    def started(self) -> None:
        if self.status is ProcessStatus.RUNNING:
            raise NotModified("container already started")
        if self.status is not ProcessStatus.CREATED:
            raise Conflict(f"cannot start a container that is {self.status.value}")
        self.status = ProcessStatus.RUNNING

    def exited(self, code: int, finished_at_ns: int, oom_killed: bool = False) -> ExitStatus:
        if self.status is ProcessStatus.STOPPED:
            raise Internal(f"init {self.pid} reported exited twice")
        self.status = ProcessStatus.STOPPED
        self.exit = ExitStatus(code, finished_at_ns, oom_killed)
        return self.exit

    def state(self) -> ShimState:
        return ShimState(self.pid, self.status, self.exit.exit_code if self.exit else None)
