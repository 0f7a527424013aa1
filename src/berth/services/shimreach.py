"""Telling a shim that does not answer from one that is gone, and reaching a live one again.

A failed connect or a dropped connection says only that berthd cannot talk to the shim now:
its socket file may have been unlinked or replaced, its listen queue full, the shim stopped
or busy. Only its process tells whether it is gone. It is found two independent ways: its
pid file (berth.shim.pidfile, with the start time against a reused pid), else the parent of
the container's init, taken for the shim only if its stderr is the state dir's ``shim.log``
(the shim is the init's child subreaper, and both ways a shim starts, fresh or forked from
the factory, open that log as its stderr; a shim's death reparents the init to pid 1 or
another subreaper, whose stderr is not that file). A pid file deleted under a live shim then
no longer gets its healthy container killed. A gone shim's container is ended through the
runtime (berth.services.shimless); a live one's is kept running and berthd keeps trying to
reach it, since nothing but that shim can reap its init, record its exit and serve its
streams.

Must not change containers or records (berth.services.containers decides what follows).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable
from pathlib import Path

from berth import errors
from berth.runtime.state import proc_stat, process_start_time
from berth.shim import pidfile
from berth.shim.client import ShimClient
from berth.shim.main import INIT_PID_FILE, LOG_FILE

__all__ = ["RETRY_INTERVAL", "find", "gone", "reach", "stopped"]

# How often berthd tries again to reach a live shim that refuses it. A connect costs
# microseconds; the shim's death is noticed at once through its pidfd, not at this pace.
RETRY_INTERVAL = 1.0


def find(state_dir: Path, init_pid: int | None = None) -> pidfile.ShimProcess | None:
    """The live process that is the shim of ``state_dir``, or None if there is none.

    The one its pid file names, if that lives; else the parent of the container's init
    (``init_pid``: berthd's record of it; without one, the shim's ``init.pid``) if that
    process's stderr is this state dir's shim log. None means the shim exited in order (it
    removes its pid file, and its init is gone), died, or never got that far.
    """
    shim = pidfile.read(state_dir)
    if shim is not None and shim.alive():
        return shim
    if not init_pid:
        init_pid = _recorded_init(state_dir)
    return None if not init_pid else _parent_shim(state_dir, init_pid)


def gone(state_dir: Path, init_pid: int | None = None) -> bool:
    """True if no live process is the shim of ``state_dir`` (:func:`find`)."""
    return find(state_dir, init_pid) is None


def stopped(state_dir: Path, init_pid: int | None = None) -> bool:
    """True if the shim of ``state_dir`` lives but is stopped (SIGSTOP, a tracer's stop): it
    cannot answer before it is continued, so waiting for it is pointless."""
    shim = find(state_dir, init_pid)
    return shim is not None and shim.stopped()


def _recorded_init(state_dir: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int((state_dir / INIT_PID_FILE).read_text())
    return None


def _parent_shim(state_dir: Path, init_pid: int) -> pidfile.ShimProcess | None:
    """The parent of ``init_pid`` if it is the shim of ``state_dir`` (its stderr is the
    state dir's shim log, the same file, not just the same name)."""
    try:
        fields = proc_stat(init_pid)
        parent = 0 if fields is None else int(fields[1])
        if parent <= 1:
            return None
        # Taken before the check: a pid reused after it is then not taken for the shim.
        started = process_start_time(parent)
        stderr = os.stat(f"/proc/{parent}/fd/2")
        log = os.stat(state_dir / LOG_FILE)
    except (OSError, ValueError, IndexError):
        return None
    if started is None or (stderr.st_dev, stderr.st_ino) != (log.st_dev, log.st_ino):
        return None
    shim = pidfile.ShimProcess(parent, started)
    return shim if shim.alive() else None


async def reach(state_dir: Path, first: Awaitable[ShimClient] | None = None,
                retry: float = RETRY_INTERVAL, init_pid: int | None = None) -> ShimClient | None:
    """Keep trying until the shim of ``state_dir`` answers (its client) or is gone (None).

    ``first``: a connect already under way, awaited first (one waiting on a stopped shim
    returns when it is continued, or fails when it dies). Between failed attempts the shim's
    pidfd is watched, so its death ends the wait at once. ``init_pid``: as for :func:`find`.
    """
    attempt = first
    while True:
        if attempt is None:
            attempt = ShimClient.connect(state_dir)
        try:
            return await attempt
        except errors.BerthError:
            pass
        attempt = None
        shim = find(state_dir, init_pid)
        fd = None if shim is None else shim.pidfd()
        if fd is None:
            return None
        try:
            await _readable(fd, retry)
        finally:
            os.close(fd)


async def _readable(fd: int, timeout: float) -> None:
    """Return once ``fd`` is readable (a pidfd: its process exited) or after ``timeout``."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def on_ready() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, on_ready)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready, timeout)
    finally:
        loop.remove_reader(fd)
