"""Small file helpers shared by the cgroup backends (error translation lives here once).

Paths are ``str`` in the runtime's hot modules: pathlib (with the fnmatch, re and urllib.parse
it imports) cost every ``berth-runtime`` command ~7 ms of start-up (bench/README.md).
"""

from __future__ import annotations

import errno
import os
import time

from berth.errors import RuntimeFailure

__all__ = ["read_pids", "read_text", "rmdir_retry", "write"]


def write(path: str, value: str) -> None:
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


def read_text(path: str) -> str:
    with open(path) as f:
        return f.read()


def read_pids(path: str) -> list[int]:
    try:
        return [int(x) for x in read_text(path).split()]
    except FileNotFoundError:
        return []


def rmdir_retry(path: str, timeout: float = 5.0) -> None:
    """rmdir a cgroup; EBUSY right after the last task exited is transient."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise RuntimeFailure(f"remove cgroup {path}: {exc.strerror}") from exc
            time.sleep(0.01)
