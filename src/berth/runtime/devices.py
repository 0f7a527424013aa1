"""Populating the container's /dev: the default nodes, ``linux.devices`` and the symlinks.

Runs in the init after the spec mounts and before pivot_root; paths are resolved inside the
rootfs. Must not mount anything except the host-node bind used when mknod is refused.
"""

from __future__ import annotations

import errno
import os
import stat

from berth.errors import RuntimeFailure
from berth.record import Record
from berth.runtime import _sys
from berth.runtime.rootfs import secure_join

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any, Final

__all__ = ["DEFAULT_DEVICES", "Device", "create_devices", "create_symlinks", "parse_devices",
           "with_default_rules"]


class Device(Record):
    path: str
    type: str  # "c", "b", "u" or "p"
    major: int
    minor: int
    file_mode: int = 0o666
    uid: int = 0
    gid: int = 0


DEFAULT_DEVICES: Final = (
    Device("/dev/null", "c", 1, 3),
    Device("/dev/zero", "c", 1, 5),
    Device("/dev/full", "c", 1, 7),
    Device("/dev/random", "c", 1, 8),
    Device("/dev/urandom", "c", 1, 9),
    Device("/dev/tty", "c", 5, 0),
)

# After the spec's own device rules (as runc appends its defaults): mknod of any node, so the
# runtime can create linux.devices, and the nodes every container uses, the ptys included.
_ALLOWED: Final = (("c", None, None, "m"), ("b", None, None, "m"), ("c", 5, 2, "rwm"),
                   ("c", 136, None, "rwm"))

_SYMLINKS: Final = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("pts/ptmx", "/dev/ptmx"),
)


def parse_devices(entries: Sequence[Mapping[str, Any]]) -> list[Device]:
    out = []
    for e in entries:
        kind = str(e.get("type", ""))
        if kind not in ("c", "b", "u", "p"):
            raise RuntimeFailure(f"invalid device type {kind!r} for {e.get('path')}")
        path = str(e.get("path", ""))
        if not path.startswith("/dev/"):
            raise RuntimeFailure(f"device path {path!r} is not under /dev")
        mode = e.get("fileMode")
        out.append(Device(path, kind, int(e.get("major", 0)), int(e.get("minor", 0)),
                          0o666 if mode is None else int(mode),
                          int(e.get("uid") or 0), int(e.get("gid") or 0)))
    return out


def _rule_key(rule: Mapping[str, Any]) -> tuple[str, int, int, str]:
    major, minor = rule.get("major"), rule.get("minor")
    return (str(rule.get("type") or "a"), -1 if major is None else int(major),
            -1 if minor is None else int(minor), str(rule.get("access") or "rwm"))


def with_default_rules(rules: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """``linux.resources.devices`` followed by runc's default allows (OCI shape).

    A deny-all spec (dockerd's and runtime-tools' own) still lets the init mknod
    ``linux.devices`` and use the default nodes; what the container may do with a spec device
    stays the spec's rules. Defaults the spec already allows after its last deny are not
    written twice (berthd's specs carry them all).
    """
    last_deny = max((i for i, r in enumerate(rules) if not r.get("allow")), default=-1)
    present = {_rule_key(r) for r in rules[last_deny + 1:]}
    defaults = [{"allow": True, "type": kind, "major": major, "minor": minor, "access": access}
                for kind, major, minor, access in _ALLOWED]
    defaults += [{"allow": True, "type": "c", "major": dev.major, "minor": dev.minor,
                  "access": "rwm"} for dev in DEFAULT_DEVICES]
    return [*rules, *(d for d in defaults if _rule_key(d) not in present)]


def _node_type(kind: str) -> int:
    return {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[kind]


def create_devices(rootfs: str, devices: Sequence[Device]) -> None:
    """mknod each device in the rootfs; where mknod is refused, bind the host's node.

    /dev is usually a tmpfs the init has just mounted: each node is made straight away, with
    the umask cleared (no chmod after) and no chown where the node is born with the owner
    asked for. Only a name already taken (an image's own /dev, a spec listing a path twice)
    goes the long way: resolved in the rootfs, removed, made again.
    """
    seen: set[str] = set()
    parents: dict[str, tuple[str, bool]] = {}
    owner = (os.geteuid(), os.getegid())
    umask = os.umask(0)
    try:
        for dev in list(DEFAULT_DEVICES) + list(devices):
            if dev.path in seen:
                continue
            seen.add(dev.path)
            try:
                _create_device(rootfs, dev, parents, owner)
            except OSError as exc:
                raise RuntimeFailure(f"create device {dev.path}: {exc.strerror}") from exc
    finally:
        os.umask(umask)


def _create_device(rootfs: str, dev: Device, parents: dict[str, tuple[str, bool]],
                   owner: tuple[int, int]) -> None:
    parent_path, name = dev.path.rsplit("/", 1)
    known = parents.get(parent_path)
    if known is None:
        parent = secure_join(rootfs, parent_path)
        os.makedirs(parent, exist_ok=True)
        # a set-group-ID directory gives new nodes its group, not the caller's
        known = parents[parent_path] = (parent, bool(os.stat(parent).st_mode & stat.S_ISGID))
    parent, group_from_parent = known
    target = os.path.join(parent, name)
    mode = _node_type(dev.type) | (dev.file_mode & 0o7777)
    try:
        os.mknod(target, mode, os.makedev(dev.major, dev.minor))
    except FileExistsError:
        target = secure_join(rootfs, dev.path)
        if os.path.lexists(target):
            os.unlink(target)
        try:
            os.mknod(target, mode, os.makedev(dev.major, dev.minor))
        except PermissionError:
            _bind_host_node(dev.path, target)
            return
    except PermissionError:
        _bind_host_node(dev.path, target)
        return
    if (dev.uid, dev.gid) != owner or group_from_parent:
        os.chown(target, dev.uid, dev.gid)


def _bind_host_node(host_path: str, target: str) -> None:
    os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
    _sys.mount(host_path, target, None, _sys.MS_BIND)


def create_symlinks(rootfs: str) -> None:
    """/dev/fd, /dev/stdin, ... as runc makes them: a name already there is left as it is."""
    links = list(_SYMLINKS)
    if os.path.exists("/proc/kcore"):
        links.append(("/proc/kcore", "/dev/core"))
    dev = secure_join(rootfs, "/dev")
    for source, link in links:
        try:
            os.symlink(source, os.path.join(dev, os.path.basename(link)))
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                continue  # no /dev at all: the spec chose not to have one
            raise RuntimeFailure(f"create symlink {link}: {exc.strerror}") from exc
