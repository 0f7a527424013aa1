"""The last resort of berthd's stop: end the process if the orderly shutdown overruns.

The shutdown in ``berth.daemon.main`` bounds every step it awaits, but a worker thread stuck
in a system call (a request's ``asyncio.to_thread`` work on a hung file system, a peer that
never answers) cannot be cancelled, and the interpreter joins such threads before it exits.
A daemon thread armed when the shutdown begins ends the process once the deadline passes,
so ``systemctl stop`` never waits for systemd's own kill. Containers do not depend on
berthd's process (live restore), and the store is crash-safe, so what this cuts short is
only what a crash would.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

__all__ = ["arm"]

_log = logging.getLogger("berthd")


def arm(seconds: float) -> None:
    """End this process ``seconds`` from now unless it has exited by then. Not disarmed: the
    process is on its way out, and the interpreter's own exit (joining threads) is covered."""

    def watch() -> None:
        time.sleep(seconds)
        _log.error("shutdown did not finish within %.0f s; exiting now", seconds)
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stderr.flush()
        os._exit(1)

    threading.Thread(target=watch, name="berth-shutdown-deadline", daemon=True).start()
