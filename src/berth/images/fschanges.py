"""``docker diff``: what a container's writable layer changed, as Docker lists it.

Owns comparing an overlay upper directory with the image's layer directories (topmost
first) without mounting anything: a 0/0 character device in the upper is a deletion (D), a
path the image already had is a change (C), anything else an addition (A). Paths the
engine itself creates as mount points (``/etc/hosts`` and friends) are left out, as moby
leaves out its init layer. Pure reading: it must not change either directory.
"""

from __future__ import annotations

import enum
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ENGINE_PATHS", "Change", "ChangeKind", "changes", "in_layers"]

# Created by the engine in every container (mount points of its own files), never by the user.
ENGINE_PATHS = frozenset({"/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/dev", "/proc",
                          "/sys", "/dev/shm", "/dev/pts", "/dev/mqueue", "/.dockerenv",
                          "/etc/mtab", "/dev/console"})


class ChangeKind(enum.IntEnum):
    """Docker's numeric kinds in ``GET /containers/{id}/changes``."""

    MODIFIED = 0
    ADDED = 1
    DELETED = 2


@dataclass(frozen=True)
class Change:
    path: str
    kind: ChangeKind


def _whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def in_layers(layers: Sequence[Path], rel: str) -> bool:
    """Whether ``rel`` (``a/b``) exists in the union of ``layers`` (topmost first)."""
    parts = rel.split("/")
    for layer in layers:
        # A parent hidden by a whiteout or made opaque in this layer hides ``rel`` below it.
        d = layer
        for i, part in enumerate(parts):
            d = d / part
            try:
                st = os.lstat(d)
            except FileNotFoundError:
                break
            except NotADirectoryError:
                return False
            if _whiteout(st):
                return False
            if i == len(parts) - 1:
                return True
            if not stat.S_ISDIR(st.st_mode):
                return False
            if _opaque(d):
                return False
    return False


def changes(upper: Path, lowers: Sequence[Path],
            ignore: frozenset[str] = ENGINE_PATHS) -> list[Change]:
    """The changes of ``upper`` over ``lowers``, sorted by path like ``docker diff``."""
    out: list[Change] = []
    # Directories copied up only to hold the engine's paths (``/etc`` for ``/etc/hosts``): moby
    # makes those in its init layer, so they show only when the container changed more there.
    engine_dirs: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(upper):
        here = Path(dirpath)
        for name in dirnames + filenames:
            path = here / name
            rel = path.relative_to(upper).as_posix()
            shown = "/" + rel
            if shown in ignore:
                engine_dirs.update("/" + "/".join(rel.split("/")[:i]) for i in range(1, rel.count("/") + 1))
                continue
            st = os.lstat(path)
            if _whiteout(st):
                out.append(Change(shown, ChangeKind.DELETED))
            elif in_layers(lowers, rel):
                # A directory copied up only to hold a changed child is listed too (as moby).
                out.append(Change(shown, ChangeKind.MODIFIED))
            else:
                out.append(Change(shown, ChangeKind.ADDED))
    if engine_dirs:
        out = [c for c in out if c.path not in engine_dirs or c.kind != ChangeKind.MODIFIED
               or any(o.path.startswith(c.path + "/") for o in out)]
    out.sort(key=lambda c: c.path)
    return out

