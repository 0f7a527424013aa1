"""The one libc call the shim needs that the stdlib lacks: prctl(PR_SET_CHILD_SUBREAPER).

Must not grow: syscalls of the container's own lifecycle belong to berth.runtime.
"""

from __future__ import annotations

import ctypes
import os

from berth.errors import Internal

__all__ = ["set_child_subreaper"]

_PR_SET_CHILD_SUBREAPER = 36


def set_child_subreaper() -> None:
    """Orphans of our descendants become our children (so the shim can reap them)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise Internal(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}") from OSError(
            err, os.strerror(err))
