"""Prime the kernel's cgroup migration lock while a new shim gets ready to create its container.

Moving a process into a cgroup (a write to ``cgroup.procs``, which the runtime does for the
container's first process) takes a global lock whose write side first waits for an RCU grace
period when no migration happened within the last one: ~10-15 ms on this machine, about a
tenth of a whole ``docker run --rm``. A migration that starts shortly before the runtime's
keeps the lock in its fast state, and the runtime's join then takes ~1 ms (bench/README.md).

``prime`` moves the calling process into the cgroup it already is in (a no-op move that still
takes the lock) and is meant to run beside other start-up work: in the shim factory's
intermediate child, after forking the shim, so the wait overlaps the shim's own start-up; in a
thread of ``berth-runtime create/run/exec`` (``keep_warm``) while the command imports the
runtime. The lock falls back to its slow state one grace period after the last migration, and
the command's imports take longer than that, so ``keep_warm`` repeats the move every few ms
until the command is done with it. Errors are ignored: priming only ever saves time.
"""

from __future__ import annotations

import os
import time

from berth.runtime._suppress import suppress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final, Protocol

    class Stoppable(Protocol):
        """A lock held by the caller while the priming should go on (``_thread.allocate_lock()``)."""

        def acquire(self, blocking: bool = ..., timeout: float = ...) -> bool: ...

__all__ = ["keep_warm", "prime"]

_ROOT: Final = "/sys/fs/cgroup"
# Well inside one RCU grace period (~10-15 ms here), so the lock never falls back in between.
_INTERVAL: Final = 0.004


def _procs_file() -> str | None:
    """``cgroup.procs`` of the caller's own cgroup in the first hierarchy mounted as usual."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers:
            dirs = [f"{_ROOT}/{c.removeprefix('name=')}" for c in controllers.split(",")]
        else:
            dirs = [f"{_ROOT}/unified", _ROOT]  # v2: hybrid or unified-only layouts
        for d in dirs:
            procs = os.path.join(d, path.lstrip("/"), "cgroup.procs")
            if os.path.exists(procs):
                return procs
    return None


def _move(procs: str) -> None:
    with suppress(OSError):
        fd = os.open(procs, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)


def prime() -> None:
    """Move this process into its own cgroup once; returns when the kernel has done so."""
    procs = _procs_file()
    if procs is not None:
        _move(procs)


def keep_warm(stop: Stoppable, seconds: float) -> None:
    """Prime every few ms until ``stop`` is released or ``seconds`` have passed (for a thread)."""
    procs = _procs_file()
    if procs is None:
        return
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _move(procs)
        if stop.acquire(timeout=_INTERVAL):  # the wait is the pause between two moves
            return
