"""Mount values and the code that applies them.

Snapshotters describe a root filesystem as a list of :class:`Mount` values and never mount
anything themselves; the runtime applies them inside the container's own mount namespace,
so a container's rootfs never appears in the host mount table and cannot leak.
"""

from __future__ import annotations

import errno
import os

from berth._libc import get_errno, libc
from berth.errors import Internal
from berth.record import Record, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Mount", "mount_all", "mounted_under", "unmount"]


class Mount(Record):
    """One mount: ``mount -t type -o options source target`` (target relative to a root)."""

    type: str
    source: str
    options: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "source": self.source, "options": list(self.options)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Mount:
        return cls(type=str(data["type"]), source=str(data["source"]),
                   options=tuple(str(o) for o in data.get("options", ())))


_MS_RDONLY = 1
# Mount flags that are options on the command line, not file-system data.
_FLAG_OPTIONS = {"nosuid": 2, "nodev": 4, "noexec": 8}
_MS_REMOUNT = 32
_MS_BIND = 4096
_MS_REC = 16384
_MNT_DETACH = 2


def mount_all(mounts: list[Mount], target: str) -> None:
    """Mount each of ``mounts`` on ``target`` in order (stacked, as containerd does)."""
    for m in mounts:
        flags = 0
        data = []
        for opt in m.options:
            if opt == "ro":
                flags |= _MS_RDONLY
            elif opt == "rw":
                continue
            elif opt == "bind":
                flags |= _MS_BIND
            elif opt == "rbind":
                flags |= _MS_BIND | _MS_REC
            elif opt in _FLAG_OPTIONS:
                flags |= _FLAG_OPTIONS[opt]
            else:
                data.append(opt)
        if m.type == "bind":
            flags |= _MS_BIND
        if flags & _MS_BIND:
            # A bind mount ignores MS_RDONLY on creation: bind first, then remount read-only.
            _mount(m.source, target, "", flags & ~_MS_RDONLY, None, m.type)
            if flags & _MS_RDONLY:
                _mount("", target, "", _MS_BIND | _MS_REMOUNT | _MS_RDONLY, None, m.type)
            continue
        _mount(m.source, target, m.type, flags, ",".join(data) if data else None, m.type)


def _mount(source: str, target: str, fstype: str, flags: int, data: str | None, what: str) -> None:
    rc = libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                     data.encode() if data else None)
    if rc != 0:
        err = get_errno()
        raise Internal(f"mount {what} on {target}: {os.strerror(err)}") from OSError(
            err, os.strerror(err))


def unmount(target: str) -> None:
    """Lazily unmount ``target``; a target that is not mounted is not an error."""
    rc = libc.umount2(target.encode(), _MNT_DETACH)
    if rc != 0:
        err = get_errno()
        if err in (errno.EINVAL, errno.ENOENT):
            return
        raise Internal(f"unmount {target}: {os.strerror(err)}") from OSError(err, os.strerror(err))


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mounted_under(root: str) -> list[str]:
    """The mount points strictly under ``root`` in this process's mount namespace, one entry
    per mount (a target stacked twice is listed twice), in mount order."""
    prefix = root.rstrip("/") + "/"
    with open("/proc/self/mountinfo") as f:
        targets = [_unescape(line.split()[4]) for line in f]
    return [t for t in targets if t.startswith(prefix)]
