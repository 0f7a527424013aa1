"""Resolving a container path inside a root directory, symlinks followed but never out of it.

Owns the one rule every ``cp`` and ``export`` path goes through: a path is looked up
component by component, symbolic links are read and followed as the container would see
them (absolute targets restart at the container's root, ``..`` stops at it), so no lookup
can leave ``root`` — even when ``root`` is ``/proc/<pid>/root`` of a running container,
whose absolute links would otherwise point into the host. It must not open or change files.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from berth.errors import InvalidArgument

__all__ = ["resolve", "split_container_path"]

_MAX_HOPS = 255


def split_container_path(path: str) -> list[str]:
    """``/a/./b/`` -> ``["a", "b"]``; ``..`` stays (it is resolved against links)."""
    if "\x00" in path:
        raise InvalidArgument("path contains a NUL byte")
    return [p for p in path.split("/") if p not in ("", ".")]


def resolve(root: Path, path: str, follow_last: bool = True) -> Path:
    """The host path of container path ``path`` under ``root``; the last component may be
    missing. With ``follow_last=False`` a final symlink is returned itself."""
    todo = split_container_path(path)
    todo.reverse()
    done: list[str] = []
    hops = 0
    while todo:
        part = todo.pop()
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = root.joinpath(*done, part)
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            done.append(part)
            continue
        if stat.S_ISLNK(st.st_mode) and (todo or follow_last):
            hops += 1
            if hops > _MAX_HOPS:
                raise InvalidArgument(f"too many levels of symbolic links in {path!r}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            parts = split_container_path(target)
            todo.extend(reversed(parts))
            continue
        done.append(part)
    return root.joinpath(*done)
