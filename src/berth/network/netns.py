"""Persistent network namespaces as files under berthd's exec root (never /run/netns).

A namespace is kept alive by bind-mounting its nsfs inode onto ``<exec-root>/netns/<id>``
(what ``ip netns add`` does under /run/netns), so it exists before the container's init and
can be configured, joined by path, and torn down after the container exits.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
from pathlib import Path

from berth.errors import Internal

__all__ = ["create", "is_mounted", "remove"]

_MNT_DETACH = 2


def is_mounted(path: Path) -> bool:
    target = str(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == target for line in f)


def create(path: Path) -> None:
    """A fresh network namespace pinned at ``path`` (loopback down; the runtime brings it up)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and is_mounted(path):
        remove(path)
    path.touch()
    # util-linux unshare does the unshare + bind mount in a child, so berthd's own
    # threads never change namespace.
    proc = subprocess.run(["unshare", f"--net={path}", "true"], capture_output=True, text=True)
    if proc.returncode != 0:
        with contextlib.suppress(OSError):
            path.unlink()
        raise Internal(f"create network namespace {path}: {proc.stderr.strip()}")


def remove(path: Path) -> None:
    """Unpin and delete; the namespace (and the veths inside it) dies with its last user."""
    libc = ctypes.CDLL(None, use_errno=True)
    while is_mounted(path):
        if libc.umount2(str(path).encode(), _MNT_DETACH) != 0:
            err = ctypes.get_errno()
            raise Internal(f"unmount network namespace {path}: {os.strerror(err)}")
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
