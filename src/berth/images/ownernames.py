"""Owner names and times of the tar entries ``docker cp`` and ``docker export`` write.

dockerd tars a container's files from inside its root, so an entry's uname and gname are
what the container's own /etc/passwd and /etc/group call its uid and gid (none when they
have no entry), and its modification time is whole seconds, which leaves the entries plain
ustar with no PAX record. This module reads those two files once per archive, through
``berth.images.scoped`` (a hostile container's symlinks cannot point it at the host's
files) and bounded in size, and fills each entry. It also turns a container's ``User``
(``name``, ``uid``, ``uid:gid``, ``name:group``) into the ids ``docker cp -a`` gives the
files it copies in (:func:`user_ids`). It must not write anything.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

from berth.errors import Internal, InvalidArgument
from berth.images.scoped import resolve

__all__ = ["OwnerNames", "user_ids"]

_MAX_BYTES: Final = 4 << 20


def _read_entries(root: Path, path: str) -> list[list[str]]:
    """The ``name:x:id:...`` lines of a passwd or group file, split; [] when missing or
    unreadable."""
    try:
        host = resolve(root, path)
        fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except (OSError, InvalidArgument):
        return []
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return []
        data = f.read(_MAX_BYTES)
    return [fields for line in data.decode("utf-8", "replace").splitlines()
            if len(fields := line.split(":")) >= 3 and fields[0] and fields[2].isdigit()]


def _read_ids(root: Path, path: str) -> dict[int, str]:
    """id -> first name."""
    out: dict[int, str] = {}
    for fields in _read_entries(root, path):
        out.setdefault(int(fields[2]), fields[0])
    return out


def user_ids(root: Path, user: str) -> tuple[int, int]:
    """The uid and gid of a container's ``User`` as its own /etc/passwd and /etc/group say
    (a number needs no entry; its gid is its passwd entry's, else 0). moby 20.10 looked the
    name up in the host's passwd database instead, and failed for a number not there."""
    name, _, group = user.partition(":")
    users = _read_entries(root, "/etc/passwd")
    entry = next((f for f in users if (f[2] if name.isdigit() else f[0]) == name), None)
    if name.isdigit():
        uid = int(name)
    elif entry is None:
        raise Internal(f"unable to find user {name}: no matching entries in passwd file")
    else:
        uid = int(entry[2])
    gid = int(entry[3]) if entry is not None and len(entry) > 3 and entry[3].isdigit() else 0
    if group.isdigit():
        gid = int(group)
    elif group:
        found = next((f for f in _read_entries(root, "/etc/group") if f[0] == group), None)
        if found is None:
            raise Internal(f"unable to find group {group}: no matching entries in group file")
        gid = int(found[2])
    return uid, gid


class OwnerNames:
    """The names of one root filesystem's users and groups, read when made."""

    def __init__(self, root: Path) -> None:
        self._users = _read_ids(root, "/etc/passwd")
        self._groups = _read_ids(root, "/etc/group")

    def of(self, uid: int, gid: int) -> tuple[str, str]:
        """The user and group names of ``uid`` and ``gid``; "" for an id without one."""
        return self._users.get(uid, ""), self._groups.get(gid, "")
