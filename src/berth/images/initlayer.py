"""The entries every container's root holds from its creation, as moby's init layer gives them.

dockerd puts a layer between the image and the container's writable one holding the engine's
mount points and markers: ``/.dockerenv``, ``/etc/hostname``, ``/etc/hosts``,
``/etc/resolv.conf``, ``/dev/console`` (empty 0755 files), ``/dev/pts``, ``/dev/shm``, ``/proc``,
``/sys`` (0755 directories, as are ``/etc`` and ``/dev`` holding them) and ``/etc/mtab`` ->
``/proc/mounts``; they hide what the image had there. ``docker export`` and ``docker cp`` show
them, tools look for ``/.dockerenv``; ``docker diff``, ``commit`` and ``SizeRw`` leave them out.
berth makes them in the container's upper directory at create (one overlay layer fewer), so
this module also tells which of them are still as made (:func:`pristine`), for those three to
leave out. Checked against dockerd 20.10.24. It must not know about containers or mounts.
"""

from __future__ import annotations

import os
import stat
from contextlib import suppress
from pathlib import Path
from typing import Final

__all__ = ["populate", "pristine", "remove_pristine"]

_DIR: Final = "dir"
_FILE: Final = "file"
# Parents before children; a kind other than dir or file is a symlink's target.
_ENTRIES: Final = (("dev", _DIR), ("dev/pts", _DIR), ("dev/shm", _DIR), ("proc", _DIR),
                   ("sys", _DIR), (".dockerenv", _FILE), ("etc", _DIR), ("etc/resolv.conf", _FILE),
                   ("etc/hosts", _FILE), ("etc/hostname", _FILE), ("dev/console", _FILE),
                   ("etc/mtab", "/proc/mounts"))
_MODE: Final = 0o755


def populate(upper: Path, uid: int = 0, gid: int = 0) -> None:
    """Make the entries in a new container's (empty) upper directory, owned by ``uid:gid``."""
    for rel, kind in _ENTRIES:
        path = upper / rel
        if kind == _DIR:
            with suppress(FileExistsError):
                os.mkdir(path, _MODE)
        elif kind == _FILE:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, _MODE))
        else:
            os.symlink(kind, path)
        os.lchown(path, uid, gid)
        if kind in (_DIR, _FILE):
            os.chmod(path, _MODE)  # whatever the umask


def _as_made(path: Path, kind: str) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if kind == _DIR:
        return stat.S_ISDIR(st.st_mode)
    if kind == _FILE:
        return stat.S_ISREG(st.st_mode) and st.st_size == 0
    return stat.S_ISLNK(st.st_mode) and os.readlink(path) == kind


def pristine(upper: Path) -> frozenset[str]:
    """The entries (``etc/hosts``) still as :func:`populate` made them: a file still empty, the
    link unchanged, a directory holding nothing but such entries. The runtime's bind mounts
    cover the files while the container runs, so they stay empty."""
    made = {rel for rel, kind in _ENTRIES if _as_made(upper / rel, kind)}
    # Children first: a directory is the engine's only if all it holds is.
    for rel, kind in reversed(_ENTRIES):
        if kind != _DIR or rel not in made:
            continue
        try:
            children = os.listdir(upper / rel)
        except OSError:
            made.discard(rel)
            continue
        if any(f"{rel}/{child}" not in made for child in children):
            made.discard(rel)
    return frozenset(made)


def remove_pristine(upper: Path) -> None:
    """Delete the :func:`pristine` entries (a build step's upper before it becomes a layer)."""
    made = pristine(upper)
    for rel, kind in reversed(_ENTRIES):
        if rel in made:
            path = upper / rel
            if kind == _DIR:
                path.rmdir()
            else:
                path.unlink()
