"""The shim's pid file, ``<state-dir>/shim.pid``: which process is a container's shim.

One line, ``"<pid> <start time>\\n"``, the start time in clock ticks since boot (field 22 of
``/proc/<pid>/stat``), as the runtime keeps its init's in state.json: a pid the kernel has
since given to another process is then not taken for the shim. The shim writes it (whole,
by rename) before it reports ready and removes it when it exits in order; a file an older
shim wrote holds the pid alone.

berthd reads it to tell a shim that does not answer from one that is gone: only a gone shim's
container may be ended through the runtime (berth.services.shimless). Without a live process
named here, berth.services.shimreach looks for the shim a second way (the init's parent).
Must not signal or wait for anything; berth.services.shimreach waits.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from berth.runtime.state import proc_stat, process_start_time
from berth.shim.spec import write_atomic

__all__ = ["PID_FILE", "ShimProcess", "read", "write"]

PID_FILE = "shim.pid"


@dataclass(frozen=True)
class ShimProcess:
    """A shim's process as its pid file names it."""

    pid: int
    start_time: int | None
    """None for a file without it (an older shim's): then any live process with the pid counts."""

    def alive(self) -> bool:
        """The process runs (a zombie has ended) and is the one the file named."""
        fields = proc_stat(self.pid)
        if fields is None or fields[0] in ("Z", "X"):
            return False
        return self.start_time is None or int(fields[19]) == self.start_time

    def stopped(self) -> bool:
        """The process is stopped (SIGSTOP, or a tracer's stop): it answers nothing before it
        is continued."""
        fields = proc_stat(self.pid)
        return fields is not None and fields[0] in ("T", "t")

    def pidfd(self) -> int | None:
        """A pidfd of this process (readable once it exits), or None if it is gone already."""
        try:
            fd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            return None
        # Checked after the open: the pid may have been reused in between.
        if not self.alive():
            os.close(fd)
            return None
        return fd


def write(state_dir: Path) -> None:
    """Record the calling process as the shim of ``state_dir``."""
    pid = os.getpid()
    write_atomic(state_dir / PID_FILE, f"{pid} {process_start_time(pid)}\n".encode(), 0o644)


def read(state_dir: Path) -> ShimProcess | None:
    """The shim ``state_dir``'s pid file names; None without a readable one (the shim exited
    in order, or never got as far as writing it)."""
    with contextlib.suppress(OSError, ValueError):
        fields = (state_dir / PID_FILE).read_text().split()
        if 1 <= len(fields) <= 2:
            return ShimProcess(int(fields[0]), int(fields[1]) if len(fields) == 2 else None)
    return None
