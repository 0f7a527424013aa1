"""User namespaces: the spec's uid/gid mappings, writing them for a new namespace, and a rootfs
whose image layers show up shifted into the mapped range without copying them.

The rootfs: each overlay lower dir (or a bind source) is cloned as an idmapped mount
(MOUNT_ATTR_IDMAP, with a throw-away user namespace carrying the container's maps) and the
overlay is mounted on the host side from those clones, so host root's files appear owned by
the container's root; the upper/work dirs must already belong to the mapped root (the daemon
chowns them). The clones are detached once the overlay holds them; the overlay itself is
detached by the caller once the container's mount namespace has its copy.
Must not decide which ids to use (the daemon does) nor touch /etc/subuid.
"""

from __future__ import annotations

import os

from berth.errors import BerthError, RuntimeFailure
from berth.mount import Mount, mount_all
from berth.record import Record
from berth.runtime import _sys
from berth.runtime._suppress import suppress

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Mapping, Sequence
    from typing import Any
else:
    # signal's functions and constants without its IntEnums (enum: ~5 ms of every start);
    # mypy has no stub for _signal and checks the calls against signal's.
    import _signal as signal

__all__ = ["IdMapping", "idmapped_rootfs", "parse_mappings", "release_rootfs", "write_maps"]


class IdMapping(Record):
    """One line of /proc/<pid>/uid_map: ``size`` ids from ``container_id`` -> ``host_id``."""

    container_id: int
    host_id: int
    size: int


def parse_mappings(entries: Sequence[Mapping[str, Any]] | None) -> tuple[IdMapping, ...]:
    out = []
    for e in entries or []:
        try:
            m = IdMapping(int(e["containerID"]), int(e["hostID"]), int(e["size"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise RuntimeFailure(f"invalid id mapping {e!r}") from exc
        if m.size <= 0 or m.container_id < 0 or m.host_id < 0:
            raise RuntimeFailure(f"invalid id mapping {e!r}")
        out.append(m)
    return tuple(out)


def _lines(maps: Sequence[IdMapping]) -> str:
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)


def write_maps(pid: int, uid_maps: Sequence[IdMapping], gid_maps: Sequence[IdMapping]) -> None:
    """Write the maps of ``pid``'s new user namespace (from the parent namespace, privileged, so
    setgroups stays allowed inside)."""
    try:
        with open(f"/proc/{pid}/uid_map", "w") as f:
            f.write(_lines(uid_maps))
        with open(f"/proc/{pid}/gid_map", "w") as f:
            f.write(_lines(gid_maps))
    except OSError as exc:
        raise RuntimeFailure(f"write id mappings: {exc.strerror}") from exc


class _MappedNamespace:
    """``with _MappedNamespace(uid_maps, gid_maps) as fd``: an fd of a user namespace with these
    maps, held by a child that is killed afterwards. (A class, not ``contextlib.contextmanager``:
    contextlib costs every ``berth-runtime create`` ~5 ms of imports.)"""

    def __init__(self, uid_maps: Sequence[IdMapping], gid_maps: Sequence[IdMapping]) -> None:
        self._uid_maps = uid_maps
        self._gid_maps = gid_maps
        self._pid = self._fd = self._ready_r = self._hold_w = -1

    def __enter__(self) -> int:
        ready_r, ready_w = os.pipe()
        hold_r, hold_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(ready_r)
                os.close(hold_w)
                _sys.unshare(_sys.CLONE_NEWUSER)
                os.write(ready_w, b"1")
                os.read(hold_r, 1)
            finally:
                os._exit(0)
        os.close(ready_w)
        os.close(hold_r)
        self._pid, self._ready_r, self._hold_w = pid, ready_r, hold_w
        try:
            if os.read(ready_r, 1) != b"1":
                raise RuntimeFailure("could not create a user namespace for idmapped mounts")
            write_maps(pid, self._uid_maps, self._gid_maps)
            self._fd = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
        except BaseException:
            self._release()
            raise
        return self._fd

    def __exit__(self, *exc: object) -> None:
        self._release()

    def _release(self) -> None:
        try:
            if self._fd >= 0:
                os.close(self._fd)
        finally:
            os.close(self._ready_r)
            os.close(self._hold_w)
            with suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)


def _clone(source: str, target: str, userns_fd: int) -> None:
    os.makedirs(target, exist_ok=True)
    try:
        _sys.idmapped_clone(source, target, userns_fd)
    except OSError as exc:
        raise RuntimeFailure(f"idmapped mount of {source}: {exc.strerror}") from exc


def idmapped_rootfs(mounts: Sequence[Mount], workdir: str | os.PathLike[str], uid_maps: Sequence[IdMapping],
                    gid_maps: Sequence[IdMapping]) -> list[Mount]:
    """Mount the snapshot ``mounts`` shifted by the maps under ``workdir``; returns the one bind
    mount that replaces them for the container. Undo with :func:`release_rootfs`."""
    root = os.path.join(workdir, "rootfs")
    os.makedirs(root, exist_ok=True)
    clones: list[str] = []
    try:
        with _MappedNamespace(uid_maps, gid_maps) as nsfd:
            shifted: list[Mount] = []
            for m in mounts:
                if m.type == "bind":
                    _clone(m.source, root, nsfd)
                    continue
                if m.type != "overlay":
                    raise RuntimeFailure(f"cannot idmap a {m.type} rootfs mount")
                opts = []
                for opt in m.options:
                    if opt.startswith("lowerdir="):
                        lowers = []
                        for lower in opt[len("lowerdir="):].split(":"):
                            clone = os.path.join(workdir, f"l{len(clones)}")
                            _clone(lower, clone, nsfd)
                            clones.append(clone)
                            lowers.append(clone)
                        opt = "lowerdir=" + ":".join(lowers)
                    opts.append(opt)
                shifted.append(Mount(m.type, m.source, tuple(opts)))
            if shifted:
                try:
                    mount_all(shifted, root)
                except BerthError as exc:
                    raise RuntimeFailure(f"mount idmapped rootfs: {exc}") from exc
    except BaseException:
        release_rootfs(workdir)
        raise
    finally:
        # The overlay keeps private references to its layers: the clones can go now.
        for clone in clones:
            with suppress(OSError):
                _sys.umount2(clone, _MNT_DETACH)
            with suppress(OSError):
                os.rmdir(clone)
    return [Mount("bind", root, ("rbind", "rw"))]


_MNT_DETACH = 2


def release_rootfs(workdir: str | os.PathLike[str]) -> None:
    """Detach the host-side rootfs (the container's mount namespace keeps its own copy)."""
    root = os.path.join(workdir, "rootfs")
    with suppress(OSError):
        _sys.umount2(root, _MNT_DETACH)
    with suppress(OSError):
        os.rmdir(root)
    with suppress(OSError):
        os.rmdir(workdir)
