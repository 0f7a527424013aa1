"""The container's filesystem view, built inside its new mount namespace.

Owns: root propagation, applying the snapshotter's rootfs mounts, the spec's ``mounts`` in
order (including the v1/v2 cgroup mount), pivot_root, masked paths, read-only paths and the
read-only root. Must not create device nodes (devices.py), fork or change credentials.

Every destination is resolved inside the rootfs with symlinks interpreted relative to it
(:func:`secure_join`), so an image cannot point a mount at the host. Flags are added to a
mount that exists (a read-only bind or path, the read-only root) with mount_setattr(2), which
keeps the flags the kernel locked; a bind remount where that call is missing.
"""

from __future__ import annotations

import errno
import os
import stat

from berth.errors import BerthError, RuntimeFailure
from berth.mount import Mount, mount_all
from berth.record import Record
from berth.runtime import _sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any, Final

__all__ = [
    "SpecMount",
    "apply_rootfs_mounts",
    "chroot_root",
    "detach_mounts",
    "mask_paths",
    "mount_spec_mounts",
    "mounts_at",
    "parse_mount_options",
    "parse_mounts",
    "pivot_root",
    "prepare_root",
    "propagation_flags",
    "readonly_paths",
    "remount_root_readonly",
    "secure_join",
]

_FLAGS: Final = {
    "ro": (_sys.MS_RDONLY, True), "rw": (_sys.MS_RDONLY, False),
    "nosuid": (_sys.MS_NOSUID, True), "suid": (_sys.MS_NOSUID, False),
    "nodev": (_sys.MS_NODEV, True), "dev": (_sys.MS_NODEV, False),
    "noexec": (_sys.MS_NOEXEC, True), "exec": (_sys.MS_NOEXEC, False),
    "sync": (16, True), "async": (16, False), "mand": (64, True), "nomand": (64, False),
    "dirsync": (128, True), "noatime": (1024, True), "atime": (1024, False),
    "nodiratime": (2048, True), "diratime": (2048, False), "relatime": (1 << 21, True),
    "norelatime": (1 << 21, False), "strictatime": (1 << 24, True),
    "nostrictatime": (1 << 24, False), "remount": (_sys.MS_REMOUNT, True),
    "bind": (_sys.MS_BIND, True), "rbind": (_sys.MS_BIND | _sys.MS_REC, True),
}
_PROPAGATION: Final = {
    "private": _sys.MS_PRIVATE, "rprivate": _sys.MS_PRIVATE | _sys.MS_REC,
    "shared": _sys.MS_SHARED, "rshared": _sys.MS_SHARED | _sys.MS_REC,
    "slave": _sys.MS_SLAVE, "rslave": _sys.MS_SLAVE | _sys.MS_REC,
    "unbindable": _sys.MS_UNBINDABLE, "runbindable": _sys.MS_UNBINDABLE | _sys.MS_REC,
}
_MS_NOATIME: Final = 1024
_MS_NODIRATIME: Final = 2048
_MS_RELATIME: Final = 1 << 21
_MS_STRICTATIME: Final = 1 << 24
_ATTRS: Final = ((_sys.MS_RDONLY, _sys.MOUNT_ATTR_RDONLY), (_sys.MS_NOSUID, _sys.MOUNT_ATTR_NOSUID),
                 (_sys.MS_NODEV, _sys.MOUNT_ATTR_NODEV), (_sys.MS_NOEXEC, _sys.MOUNT_ATTR_NOEXEC),
                 (_MS_NODIRATIME, _sys.MOUNT_ATTR_NODIRATIME))
_ATIMES: Final = ((_MS_STRICTATIME, _sys.MOUNT_ATTR_STRICTATIME), (_MS_NOATIME, _sys.MOUNT_ATTR_NOATIME),
                  (_MS_RELATIME, _sys.MOUNT_ATTR_RELATIME))
_LOCKED: Final = (_sys.MS_NOSUID | _sys.MS_NODEV | _sys.MS_NOEXEC | _MS_NOATIME | _MS_NODIRATIME
                  | _MS_RELATIME | _MS_STRICTATIME)


class SpecMount(Record):
    """One ``mounts[]`` entry of the runtime spec."""

    destination: str
    type: str
    source: str
    options: tuple[str, ...]

    @property
    def is_bind(self) -> bool:
        return self.type == "bind" or "bind" in self.options or "rbind" in self.options


class MountOptions(Record):
    flags: int
    propagation: tuple[int, ...]
    data: str


def parse_mounts(entries: Sequence[Mapping[str, Any]], bundle: str) -> list[SpecMount]:
    """Parse ``mounts``; relative bind sources are relative to the bundle, as runc has them."""
    out = []
    for e in entries:
        dest = str(e.get("destination") or "")
        if not dest.startswith("/"):
            raise RuntimeFailure(f"mount destination {dest!r} is not absolute")
        m = SpecMount(dest, str(e.get("type") or "none"), str(e.get("source") or ""),
                      tuple(str(o) for o in e.get("options") or ()))
        if m.is_bind and not m.source.startswith("/"):
            m = SpecMount(m.destination, m.type, os.path.join(bundle, m.source), m.options)
        out.append(m)
    return out


def parse_mount_options(options: Sequence[str]) -> MountOptions:
    flags = 0
    propagation: list[int] = []
    data: list[str] = []
    for opt in options:
        if opt in _FLAGS:
            bit, on = _FLAGS[opt]
            flags = flags | bit if on else flags & ~bit
        elif opt in _PROPAGATION:
            propagation.append(_PROPAGATION[opt])
        else:
            data.append(opt)
    return MountOptions(flags, tuple(propagation), ",".join(data))


def secure_join(root: str, path: str) -> str:
    """``root``/``path`` with every symlink on the way resolved as if ``root`` were ``/``.

    Components that do not exist yet are appended as they are (and nothing below a missing
    one is looked up: it cannot exist either, until a ``..`` climbs back above it).
    """
    # One lstat per component (readlink's EINVAL for each non-link was an exception each),
    # paths built by concatenation (posixpath.join is most of the cost in the init).
    base = root.rstrip("/")
    parts = [p for p in reversed(path.split("/")) if p and p != "."]
    resolved: list[str] = []
    current = base  # always base + "/" + "/".join(resolved)
    absent = -1  # how deep the first missing component is, while we are below it
    links = 0
    while parts:
        part = parts.pop()
        if part == "..":
            if resolved:
                resolved.pop()
                current = current[:current.rfind("/")]
                if absent >= 0 and len(resolved) <= absent:
                    absent = -1
            continue
        candidate = f"{current}/{part}"
        if absent < 0:
            try:
                is_link = stat.S_ISLNK(os.lstat(candidate).st_mode)
            except OSError:
                absent = len(resolved)
                is_link = False
            if is_link:
                try:
                    target = os.readlink(candidate)
                except OSError:
                    target = None
                if target is not None:
                    links += 1
                    if links > 255:
                        raise RuntimeFailure(f"too many levels of symbolic links in {path}")
                    if target.startswith("/"):
                        resolved = []
                        current = base
                    parts.extend(p for p in reversed(target.split("/")) if p and p != ".")
                    continue
        resolved.append(part)
        current = candidate
    return current if resolved else root


def _fail(what: str, exc: OSError) -> RuntimeFailure:
    return RuntimeFailure(f"{what}: {exc.strerror or exc}")


def propagation_flags(propagation: str | None) -> int:
    """The mount(2) flags for a ``rootfsPropagation`` value (rprivate when unset)."""
    flags = _PROPAGATION.get(propagation or "rprivate")
    if flags is None:
        raise RuntimeFailure(f"invalid rootfsPropagation {propagation!r}")
    return flags


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo. By hand, not re.sub: re's
    # import (enum, functools) costs every ``create`` ~7 ms.
    if "\\" not in field:
        return field
    parts = field.split("\\")
    out = [parts[0]]
    for part in parts[1:]:
        code = part[:3]
        if len(code) == 3 and all(c in "01234567" for c in code):
            out.append(chr(int(code, 8)) + part[3:])
        else:
            out.append("\\" + part)
    return "".join(out)


def _mount_points() -> list[str]:
    try:
        with open("/proc/self/mountinfo") as f:
            return [_unescape(line.split()[4]) for line in f if len(line.split()) > 4]
    except OSError:
        return []


def mounts_at(path: str) -> int:
    """How many mounts are stacked exactly on ``path`` in the caller's mount namespace."""
    return sum(1 for mp in _mount_points() if mp == path)


def detach_mounts(path: str, keep: int) -> None:
    """Lazily unmount what was stacked on ``path`` (and everything under it) above ``keep``."""
    for _ in range(max(mounts_at(path) - keep, 0)):
        try:
            _sys.umount2(path, _sys.MNT_DETACH)
        except OSError as exc:
            raise _fail(f"unmount {path}", exc) from exc


def _containing_mount(path: str) -> str:
    best = "/"
    for mp in _mount_points():
        if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) > len(best):
            best = mp
    return best


def prepare_root(propagation: str | None, rootfs: str) -> None:
    """Stop mount events crossing between the host and this namespace (rprivate by default).

    With a shared or slave ``rootfsPropagation`` the mount holding the rootfs is still made
    private: pivot_root refuses a new root whose parent mount is shared, and binding the rootfs
    out of an unbindable mount fails.
    """
    flags = propagation_flags(propagation)
    try:
        _sys.mount(None, "/", None, flags)
        if not flags & _sys.MS_PRIVATE:
            _sys.mount(None, _containing_mount(os.path.dirname(rootfs)), None, _sys.MS_PRIVATE)
    except OSError as exc:
        raise _fail("make / private", exc) from exc


def apply_rootfs_mounts(mounts: Sequence[Mount], rootfs: str) -> None:
    """Mount the snapshotter's layers, or else make ``rootfs`` a mount point (for pivot_root)
    by binding it onto itself; the layers' own mount is one already."""
    if mounts:
        try:
            mount_all(list(mounts), rootfs)
        except BerthError as exc:
            raise RuntimeFailure(f"mount rootfs: {exc}") from exc
        return
    try:
        _sys.mount(rootfs, rootfs, None, _sys.MS_BIND | _sys.MS_REC)
    except OSError as exc:
        raise _fail(f"bind rootfs {rootfs}", exc) from exc


def _make_target(dest: str, as_file: bool) -> int | None:
    """Make the mount point; for a directory already there, its mode (else None).

    Each tries the common case first (a directory there, a file not), one system call where
    makedirs and lexists took three or four.
    """
    try:
        if as_file:
            try:
                fd = os.open(dest, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o644)
            except FileNotFoundError:
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                fd = os.open(dest, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o644)
            os.close(fd)
            return None
        try:
            mode = os.stat(dest).st_mode
        except FileNotFoundError:
            os.makedirs(dest, exist_ok=True)
            return None
        if not stat.S_ISDIR(mode):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dest)
        return mode
    except FileExistsError as exc:
        if as_file:
            return None  # a file (or anything) there already: the mount goes over it
        raise _fail(f"create mount point {dest}", exc) from exc
    except OSError as exc:
        raise _fail(f"create mount point {dest}", exc) from exc


def _bind(source: str, dest: str, opts: MountOptions, recursive: bool) -> None:
    flags = _sys.MS_BIND | (_sys.MS_REC if recursive else 0)
    _sys.mount(source, dest, None, flags)
    extra = opts.flags & ~(_sys.MS_BIND | _sys.MS_REC | _sys.MS_REMOUNT)
    if extra:
        # Bind mounts ignore flags on the first call; they take effect only afterwards.
        _restrict(dest, extra)


def _restrict(path: str, flags: int) -> None:
    """Add the per-mount ``flags`` (MS_RDONLY, MS_NOSUID, ..., an atime mode) to the mount at
    ``path``, keeping its other flags, those the kernel locked on its source included."""
    if not _setattr(path, flags, recursive=False):
        _remount(path, flags)


def _setattr(path: str, flags: int, recursive: bool) -> bool:
    """``_restrict`` in one mount_setattr(2) (for every mount under ``path`` too, ``recursive``);
    False where the kernel (< 5.12) or a seccomp filter lacks the call."""
    attr_set = 0
    for ms_flag, attr in _ATTRS:
        if flags & ms_flag:
            attr_set |= attr
    attr_clr = 0
    for ms_flag, attr in _ATIMES:  # mount(2)'s precedence: strictatime, noatime, relatime
        if flags & ms_flag:
            attr_set |= attr
            attr_clr = _sys.MOUNT_ATTR__ATIME
            break
    try:
        _sys.mount_setattr(path, attr_set, attr_clr, recursive)
    except OSError as exc:
        if exc.errno in (errno.ENOSYS, errno.EPERM):
            return False
        raise
    return True


def _remount(path: str, flags: int) -> None:
    # A bind remount sets every per-mount flag: those the kernel locked must be passed back.
    locked = _statvfs_flags(path) & _LOCKED
    _sys.mount(None, path, None, _sys.MS_REMOUNT | _sys.MS_BIND | flags | locked)


def _statvfs_flags(path: str) -> int:
    st = os.statvfs(path)
    out = 0
    for st_flag, ms_flag in ((os.ST_NOSUID, _sys.MS_NOSUID), (os.ST_NODEV, _sys.MS_NODEV),
                             (os.ST_NOEXEC, _sys.MS_NOEXEC), (os.ST_NOATIME, 1024),
                             (os.ST_NODIRATIME, 2048), (os.ST_RELATIME, 1 << 21)):
        if st.f_flag & st_flag:
            out |= ms_flag
    return out


def mount_spec_mounts(rootfs: str, mounts: Sequence[SpecMount],
                      cgroup_paths: Mapping[str, str], new_cgroupns: bool) -> None:
    for m in mounts:
        dest = secure_join(rootfs, m.destination)
        opts = parse_mount_options(m.options)
        try:
            if m.is_bind:
                try:
                    src_is_dir = stat.S_ISDIR(os.stat(m.source).st_mode)
                except OSError as exc:
                    raise _fail(f"bind mount source {m.source}", exc) from exc
                _make_target(dest, as_file=not src_is_dir)
                _bind(m.source, dest, opts, recursive=bool(opts.flags & _sys.MS_REC))
            elif m.type == "cgroup":
                _mount_cgroup(dest, opts, cgroup_paths, new_cgroupns,
                              _make_target(dest, as_file=False))
            else:
                mode = _make_target(dest, as_file=False)
                try:
                    _sys.mount(m.source or m.type, dest, m.type, opts.flags, opts.data or None)
                except PermissionError:
                    if m.type != "sysfs":
                        raise
                    # In a user namespace that does not own the network namespace (joined,
                    # made by berthd) sysfs cannot be mounted: bind the host's, as runc does.
                    _bind("/sys", dest, opts, recursive=True)
                if m.type == "tmpfs" and mode is not None:
                    _keep_mode(dest, mode)
            for prop in opts.propagation:
                _sys.mount(None, dest, None, prop)
        except OSError as exc:
            raise _fail(f"mount {m.type} on {m.destination}", exc) from exc


def _keep_mode(dest: str, mode: int) -> None:
    """A tmpfs over a directory that was there takes that directory's mode (runc's rule, so
    /sys/fs/cgroup reads 555 as sysfs has it, not the tmpfs' 755)."""
    os.chmod(dest, stat.S_IMODE(mode))


def _mount_cgroup(dest: str, opts: MountOptions, paths: Mapping[str, str],
                  new_cgroupns: bool, mode: int | None) -> None:
    """Show the container its own cgroups at ``dest``, read-only when the spec says so.

    On v1 only the per-hierarchy binds are read-only; the tmpfs holding them is not (runc).
    ``mode``: that of the directory ``dest`` was before, which the v1 tmpfs takes."""
    ro = opts.flags & _sys.MS_RDONLY
    base = opts.flags & (_sys.MS_NOSUID | _sys.MS_NODEV | _sys.MS_NOEXEC)
    if set(paths) == {"unified"}:
        if new_cgroupns:
            _sys.mount("cgroup2", dest, "cgroup2", opts.flags)
        else:
            _bind(paths["unified"], dest, MountOptions(base | ro, (), ""), recursive=False)
        return
    # v1: a tmpfs holding one bind per hierarchy, as runc lays it out.
    _sys.mount("tmpfs", dest, "tmpfs", base, "mode=755")
    if mode is not None:
        _keep_mode(dest, mode)
    for name, host_dir in paths.items():
        if name == "unified":
            continue  # the hybrid v2 tree stays hidden, as under runc
        sub = os.path.join(dest, name)
        os.mkdir(sub)  # the tmpfs is new: no parent to make, nothing there yet
        _sys.mount(host_dir, sub, None, _sys.MS_BIND)
        if "," in name:
            for alias in name.split(","):
                link = os.path.join(dest, alias)
                if not os.path.lexists(link):
                    os.symlink(name, link)
    # The tmpfs itself stays read-write even when the spec says ro: Docker with runc gives
    # exactly that (checked against dockerd 20.10 + runc 1.1.5: "tmpfs on /sys/fs/cgroup
    # (rw,...,mode=755)"); only the hierarchies inside are read-only. Their flags are set in
    # one call for all (a remount each, with a statvfs for the flags to keep, was three
    # system calls per hierarchy), then the tmpfs gets its own back.
    if not base | ro:
        return
    if _setattr(dest, base | ro, recursive=True):
        if ro:
            _sys.mount_setattr(dest, 0, _sys.MOUNT_ATTR_RDONLY)
        return
    for name in paths:
        if name != "unified":
            _remount(os.path.join(dest, name), base | ro)


def pivot_root(rootfs: str, propagation: str | None = None) -> None:
    """Make ``rootfs`` the root and drop every trace of the old one from this namespace.

    The spec's ``rootfsPropagation`` is then applied to the new root itself, where the
    container sees it (the bind of the rootfs was made private for pivot_root's sake).
    """
    try:
        os.chdir(rootfs)
        # pivot_root(".", ".") stacks the old root under the new one; unmounting "." then
        # removes the old root without needing a directory for it inside the image.
        _sys.pivot_root(".", ".")
        _sys.mount(None, ".", None, _sys.MS_SLAVE | _sys.MS_REC)
        _sys.umount2(".", _sys.MNT_DETACH)
        os.chdir("/")
        if propagation:
            _sys.mount(None, "/", None, propagation_flags(propagation))
    except OSError as exc:
        raise _fail("pivot_root", exc) from exc


def chroot_root(rootfs: str) -> None:
    """Without a mount namespace of its own the container is only chrooted (as runc does)."""
    try:
        os.chdir(rootfs)
        os.chroot(".")
        os.chdir("/")
    except OSError as exc:
        raise _fail(f"chroot {rootfs}", exc) from exc


def mask_paths(paths: Sequence[str]) -> None:
    """Hide each path (after pivot): /dev/null over files, an empty read-only tmpfs over dirs."""
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            continue
        try:
            if stat.S_ISDIR(st.st_mode):
                _sys.mount("tmpfs", p, "tmpfs", _sys.MS_RDONLY)
            else:
                _sys.mount("/dev/null", p, None, _sys.MS_BIND)
        except OSError as exc:
            raise _fail(f"mask {p}", exc) from exc


def readonly_paths(paths: Sequence[str]) -> None:
    for p in paths:
        try:
            _sys.mount(p, p, None, _sys.MS_BIND | _sys.MS_REC)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                continue
            raise _fail(f"bind {p} read-only", exc) from exc
        try:
            _restrict(p, _sys.MS_RDONLY)
        except OSError as exc:
            raise _fail(f"remount {p} read-only", exc) from exc


def remount_root_readonly() -> None:
    try:
        _restrict("/", _sys.MS_RDONLY)
    except OSError as exc:
        raise _fail("remount / read-only", exc) from exc
