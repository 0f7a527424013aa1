"""Owner names and times of the tar entries ``docker cp`` and ``docker export`` write.

dockerd tars a container's files from inside its root, so an entry's uname and gname are
what the container's own /etc/passwd and /etc/group call its uid and gid (none when they
have no entry), and its modification time is whole seconds, which leaves the entries plain
ustar with no PAX record. This module reads those two files once per archive, through
``berth.images.scoped`` (a hostile container's symlinks cannot point it at the host's
files) and bounded in size, and fills each entry. It must not write anything.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

from berth.errors import InvalidArgument
from berth.images.scoped import resolve

__all__ = ["OwnerNames"]

_MAX_BYTES: Final = 4 << 20


def _read_ids(root: Path, path: str) -> dict[int, str]:
    """``name:x:id:...`` lines as id -> first name; {} when missing or unreadable."""
    try:
        host = resolve(root, path)
        fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except (OSError, InvalidArgument):
        return {}
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return {}
        data = f.read(_MAX_BYTES)
    out: dict[int, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] and fields[2].isdigit():
            out.setdefault(int(fields[2]), fields[0])
    return out


class OwnerNames:
    """The names of one root filesystem's users and groups, read when made."""

    def __init__(self, root: Path) -> None:
        self._users = _read_ids(root, "/etc/passwd")
        self._groups = _read_ids(root, "/etc/group")

    def of(self, uid: int, gid: int) -> tuple[str, str]:
        """The user and group names of ``uid`` and ``gid``; "" for an id without one."""
        return self._users.get(uid, ""), self._groups.get(gid, "")
