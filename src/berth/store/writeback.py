"""Asking the kernel to write file data to disk: early (non-blocking), for one directory's
entries, and for a whole file system.

Owns the two calls ``os`` lacks, ``sync_file_range`` and ``syncfs``, through the already
loaded libc, and the fsync of a directory. Layer extraction starts writeback of each file as
soon as it is written, so the one ``syncfs`` that makes a layer durable before its snapshot
row is committed finds most of the data already on its way to the disk instead of starting
all of it then.
It must not decide what needs to be durable: callers do.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from berth.errors import Internal

__all__ = ["start_writeback", "sync_directory", "sync_filesystem"]

# CDLL(None) is the already-loaded libc (find_library would spawn ldconfig).
_libc = ctypes.CDLL(None, use_errno=True)
_SYNC_FILE_RANGE_WRITE = 2
_libc.sync_file_range.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)


def start_writeback(fd: int) -> None:
    """Start writing ``fd``'s dirty pages without waiting; best effort (a hint, no guarantee)."""
    _libc.sync_file_range(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)


def sync_filesystem(path: Path) -> None:
    """Wait until everything written on the file system holding ``path`` is on disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _libc.syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise Internal(f"syncfs {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


def sync_directory(path: Path) -> None:
    """Wait until ``path``'s entries (names created, renamed in or out) are on disk: what
    makes a rename or mkdir durable on any file system, not only through ext4's ordering."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        raise Internal(f"fsync {path}: {e.strerror}") from e
