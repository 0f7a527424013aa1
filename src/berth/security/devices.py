"""Host device nodes for containers: ``--device`` mappings and ``--privileged``'s whole /dev.

Owns reading the host's device nodes (stat, walking directories) into
:class:`berth.oci.specgen.HostDevice` values; specgen turns them into ``linux.devices`` and
the devices-cgroup allow rules. Runs in berthd at container start (a node may appear or go
away between create and start, and Docker checks at start too). Must not create nodes.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from berth.errors import InvalidArgument, RuntimeFailure
from berth.oci.specgen import HostDevice

__all__ = ["check_mappings", "host_devices", "mapped_devices"]

# moby's devices.HostDevices skips these /dev subtrees: they are mounted per container.
_SKIP_DIRS: Final = frozenset({"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"})


def _node(path: str, container_path: str, permissions: str) -> HostDevice | None:
    """The device at ``path`` (symlinks followed), or None when it is not a device node."""
    st = os.stat(path)
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        return None
    return HostDevice(path=container_path, type=kind, major=os.major(st.st_rdev),
                      minor=os.minor(st.st_rdev), file_mode=stat.S_IMODE(st.st_mode),
                      uid=st.st_uid, gid=st.st_gid, permissions=permissions)


def _walk(root: str) -> Iterable[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath == root:
            dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
        dirnames.sort()
        for name in sorted(filenames):
            yield os.path.join(dirpath, name)


def host_devices(root: str = "/dev") -> list[HostDevice]:
    """Every device node under the host's /dev, as ``--privileged`` gives them."""
    out = []
    for path in _walk(root):
        if path == os.path.join(root, "console"):
            continue  # the container gets its own console (or none)
        try:
            dev = _node(path, path, "rwm")
        except OSError:
            continue  # vanished, or a dangling symlink
        if dev is not None:
            out.append(dev)
    return out


def _permissions(value: str) -> str:
    if not value or any(ch not in "rwm" for ch in value) or len(set(value)) != len(value):
        raise InvalidArgument(f"invalid device cgroup permissions {value!r} (use a combination "
                              f"of r, w and m)")
    return value


def check_mappings(host_config: Mapping[str, Any]) -> None:
    """Refuse malformed ``HostConfig.Devices`` entries at create (the nodes are read at start)."""
    for entry in host_config.get("Devices") or []:
        if not isinstance(entry, dict):
            raise InvalidArgument("Devices entries must be objects")
        host = str(entry.get("PathOnHost") or "")
        if not host.startswith("/"):
            raise InvalidArgument(f"invalid device path on host {host!r}: must be absolute")
        inner = str(entry.get("PathInContainer") or host)
        if not inner.startswith("/"):
            raise InvalidArgument(f"invalid device path in container {inner!r}: must be absolute")
        _permissions(str(entry.get("CgroupPermissions") or "rwm"))


def mapped_devices(entries: Sequence[Mapping[str, Any]]) -> list[HostDevice]:
    """``HostConfig.Devices`` -> nodes; a directory maps every device below it (as moby)."""
    out: list[HostDevice] = []
    for entry in entries:
        host = str(entry.get("PathOnHost") or "")
        inner = str(entry.get("PathInContainer") or host)
        perms = _permissions(str(entry.get("CgroupPermissions") or "rwm"))
        try:
            if os.path.isdir(host):
                base = os.path.realpath(host)
                for path in _walk(base):
                    try:
                        dev = _node(path, os.path.join(inner, os.path.relpath(path, base)), perms)
                    except OSError:
                        continue
                    if dev is not None:
                        out.append(dev)
                continue
            dev = _node(host, inner, perms)
        except OSError as exc:
            raise RuntimeFailure(f"error gathering device information while adding custom device "
                                 f"\"{host}\": {(exc.strerror or str(exc)).lower()}") from exc
        if dev is None:
            raise RuntimeFailure(f"error gathering device information while adding custom device "
                                 f"\"{host}\": not a device node")
        out.append(dev)
    return out
