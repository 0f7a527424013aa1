"""The libc calls of the shim process itself that the stdlib lacks: prctl(PR_SET_CHILD_SUBREAPER)
and malloc_trim.

Must not grow beyond the shim's own process: syscalls of the container's lifecycle belong to
berth.runtime.

libc and the two functions are looked up once, when the shim factory imports this module, and
never change: a shim forked from the factory made its own ``ctypes.CDLL`` and function
pointers for each call, ~0.3 ms and ~45 copy-on-write faults per shim (bench/README.md, "CPU
per start").
"""

from __future__ import annotations

import ctypes
import os

from berth.errors import Internal

__all__ = ["release_free_memory", "set_child_subreaper"]

_PR_SET_CHILD_SUBREAPER = 36

_LIBC = ctypes.CDLL(None, use_errno=True)
_PRCTL = _LIBC.prctl
_PRCTL.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_PRCTL.restype = ctypes.c_int
_MALLOC_TRIM = _LIBC.malloc_trim
_MALLOC_TRIM.argtypes = [ctypes.c_size_t]
_MALLOC_TRIM.restype = ctypes.c_int


def set_child_subreaper() -> None:
    """Orphans of our descendants become our children (so the shim can reap them)."""
    if _PRCTL(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise Internal(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}") from OSError(
            err, os.strerror(err))


def release_free_memory() -> None:
    """Give the pages freed since the fork back to the kernel.

    Creating the container (spec, mounts) allocates in the shim and frees most of it; the
    freed pages stay dirty and private to this process for the container's whole life unless
    malloc returns them (bench/README.md). No ``gc.collect()`` first: walking every object
    made since the fork wrote to more pages than the cycles it found freed (~90 KB a shim).
    """
    _MALLOC_TRIM(0)
