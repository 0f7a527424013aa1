"""Silencing a live shim for a test or a benchmark, the shim itself left running: stopped by
SIGSTOP, or its socket moved away and replaced by one that takes connections and never
answers (as a wedged shim's). Each puts things back when its block ends, even on failure."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["bindable", "stopped", "wedged"]


@contextlib.contextmanager
def stopped(pids: Sequence[int]) -> Iterator[None]:
    """SIGSTOP ``pids`` for the block; SIGCONT them after."""
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


@contextlib.contextmanager
def wedged(path: Path) -> Iterator[None]:
    """For the block, the shim's socket moved away and one in its place that takes connections
    (the kernel queues them) and never answers; put back after (the queued connections are
    reset when it closes)."""
    away = path.with_name("shim.sock.away")
    os.rename(path, away)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            with bindable(path) as address:
                s.bind(address)
            s.listen(64)
            yield
    finally:
        with contextlib.suppress(FileNotFoundError):  # gone with an ended container's state dir
            os.rename(away, path)


@contextlib.contextmanager
def bindable(path: Path) -> Iterator[str]:
    """An address that binds ``path`` however long it is (sun_path holds 108 bytes)."""
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)
