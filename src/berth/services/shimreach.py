"""Telling a shim that does not answer from one that is gone, and reaching a live one again.

A failed connect or a dropped connection says only that berthd cannot talk to the shim now:
its socket file may have been unlinked or replaced, its listen queue full, the shim stopped
or busy. Only its process tells whether it is gone (its pid file, berth.shim.pidfile, with
the start time against a reused pid). A gone shim's container is ended through the runtime
(berth.services.shimless); a live one's is kept running and berthd keeps trying to reach it,
since nothing but that shim can reap its init, record its exit and serve its streams.

Must not change containers or records (berth.services.containers decides what follows).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable
from pathlib import Path

from berth import errors
from berth.shim import pidfile
from berth.shim.client import ShimClient

__all__ = ["RETRY_INTERVAL", "gone", "reach"]

# How often berthd tries again to reach a live shim that refuses it. A connect costs
# microseconds; the shim's death is noticed at once through its pidfd, not at this pace.
RETRY_INTERVAL = 1.0


def gone(state_dir: Path) -> bool:
    """True if no live process is the shim of ``state_dir``: its pid file is missing (it
    exited in order, or never got that far), names a process that has ended, or a pid since
    reused by another process."""
    shim = pidfile.read(state_dir)
    return shim is None or not shim.alive()


async def reach(state_dir: Path, first: Awaitable[ShimClient] | None = None,
                retry: float = RETRY_INTERVAL) -> ShimClient | None:
    """Keep trying until the shim of ``state_dir`` answers (its client) or is gone (None).

    ``first``: a connect already under way, awaited first (one waiting on a stopped shim
    returns when it is continued, or fails when it dies). Between failed attempts the shim's
    pidfd is watched, so its death ends the wait at once.
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
        shim = pidfile.read(state_dir)
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
