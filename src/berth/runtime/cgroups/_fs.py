"""Small file helpers shared by the cgroup backends (error translation lives here once)."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

from berth.errors import RuntimeFailure

__all__ = ["read_pids", "rmdir_retry", "write"]


def write(path: Path, value: str) -> None:
    # One write(2) on a raw fd: the kernel parses each write as one value, and open()'s
    # buffered text stack cost four more syscalls per file (joining ten v1 hierarchies is on
    # the container's start path).
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as exc:
        raise RuntimeFailure(f"write {value!r} to {path}: {exc.strerror}") from exc


def read_pids(path: Path) -> list[int]:
    try:
        return [int(x) for x in path.read_text().split()]
    except FileNotFoundError:
        return []


def rmdir_retry(path: Path, timeout: float = 5.0) -> None:
    """rmdir a cgroup; EBUSY right after the last task exited is transient."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise RuntimeFailure(f"remove cgroup {path}: {exc.strerror}") from exc
            time.sleep(0.01)
