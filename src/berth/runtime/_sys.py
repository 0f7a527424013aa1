"""Raw Linux system calls the standard library lacks, via libc (berth._libc).

This is the only module in berth.runtime that touches libc. Each wrapper raises OSError with
the errno on failure (callers translate to berth.errors with context); nothing here knows
about OCI specs or containers.
"""

from __future__ import annotations

import errno
import os

from berth import _libc as _c

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

__all__ = [
    "CLONE_NEWCGROUP",
    "CLONE_NEWIPC",
    "CLONE_NEWNET",
    "CLONE_NEWNS",
    "CLONE_NEWPID",
    "CLONE_NEWTIME",
    "CLONE_NEWUSER",
    "CLONE_NEWUTS",
    "MNT_DETACH",
    "MOUNT_ATTR_NOATIME",
    "MOUNT_ATTR_NODEV",
    "MOUNT_ATTR_NODIRATIME",
    "MOUNT_ATTR_NOEXEC",
    "MOUNT_ATTR_NOSUID",
    "MOUNT_ATTR_RDONLY",
    "MOUNT_ATTR_RELATIME",
    "MOUNT_ATTR_STRICTATIME",
    "MOUNT_ATTR__ATIME",
    "MS_BIND",
    "MS_NODEV",
    "MS_NOEXEC",
    "MS_NOSUID",
    "MS_PRIVATE",
    "MS_RDONLY",
    "MS_REC",
    "MS_REMOUNT",
    "MS_SHARED",
    "MS_SLAVE",
    "MS_UNBINDABLE",
    "CapSets",
    "cap_ambient_raise",
    "capbset_drop",
    "capget",
    "capset",
    "idmapped_clone",
    "ioprio_set",
    "mount",
    "mount_setattr",
    "personality",
    "pivot_root",
    "prctl",
    "sched_setattr",
    "seccomp_install",
    "seccomp_install_listener",
    "sethostname",
    "setns",
    "umount2",
    "unshare",
]

CLONE_NEWTIME: Final = 0x00000080
CLONE_NEWNS: Final = 0x00020000
CLONE_NEWCGROUP: Final = 0x02000000
CLONE_NEWUTS: Final = 0x04000000
CLONE_NEWIPC: Final = 0x08000000
CLONE_NEWUSER: Final = 0x10000000
CLONE_NEWPID: Final = 0x20000000
CLONE_NEWNET: Final = 0x40000000

MS_RDONLY: Final = 1
MS_NOSUID: Final = 2
MS_NODEV: Final = 4
MS_NOEXEC: Final = 8
MS_REMOUNT: Final = 32
MS_BIND: Final = 4096
MS_REC: Final = 16384
MS_UNBINDABLE: Final = 1 << 17
MS_PRIVATE: Final = 1 << 18
MS_SLAVE: Final = 1 << 19
MS_SHARED: Final = 1 << 20

MNT_DETACH: Final = 2

# mount_setattr(2)'s per-mount attributes; the atime mode is one field (MOUNT_ATTR__ATIME).
MOUNT_ATTR_RDONLY: Final = 0x1
MOUNT_ATTR_NOSUID: Final = 0x2
MOUNT_ATTR_NODEV: Final = 0x4
MOUNT_ATTR_NOEXEC: Final = 0x8
MOUNT_ATTR__ATIME: Final = 0x70
MOUNT_ATTR_RELATIME: Final = 0x0
MOUNT_ATTR_NOATIME: Final = 0x10
MOUNT_ATTR_STRICTATIME: Final = 0x20
MOUNT_ATTR_NODIRATIME: Final = 0x80

_PR_CAPBSET_DROP: Final = 24
_PR_CAP_AMBIENT: Final = 47
_PR_CAP_AMBIENT_RAISE: Final = 2
_PR_CAP_AMBIENT_CLEAR_ALL: Final = 4
_CAP_VERSION_3: Final = 0x20080522
_PR_SET_SECCOMP: Final = 22
_SECCOMP_MODE_FILTER: Final = 2

# x86_64 numbers; glibc has no pivot_root wrapper.
_SYSCALLS: Final = {"x86_64": {"pivot_root": 155, "seccomp": 317, "ioprio_set": 251,
                               "sched_setattr": 314, "rt_sigaction": 13},
                    "aarch64": {"pivot_root": 41, "seccomp": 277, "ioprio_set": 30,
                                "sched_setattr": 274, "rt_sigaction": 134}}
_IOPRIO_WHO_PROCESS: Final = 1
_SECCOMP_SET_MODE_FILTER: Final = 1
_SECCOMP_FILTER_FLAG_NEW_LISTENER: Final = 1 << 3

_libc = _c.libc
_libc.mount.argtypes = [_c.c_char_p, _c.c_char_p, _c.c_char_p, _c.c_ulong,
                        _c.c_char_p]
_libc.umount2.argtypes = [_c.c_char_p, _c.c_int]
_libc.unshare.argtypes = [_c.c_int]
_libc.setns.argtypes = [_c.c_int, _c.c_int]
_libc.sethostname.argtypes = [_c.c_char_p, _c.c_size_t]
_libc.prctl.argtypes = [_c.c_int, _c.c_ulong, _c.c_ulong, _c.c_ulong,
                        _c.c_ulong]
_libc.syscall.restype = _c.c_long


class _CapHeader(_c.Structure):
    _fields_ = (("version", _c.c_uint32), ("pid", _c.c_int))


class _CapData(_c.Structure):
    _fields_ = (("effective", _c.c_uint32), ("permitted", _c.c_uint32),
                ("inheritable", _c.c_uint32))


def _check(rc: int, what: str) -> int:
    if rc < 0:
        err = _c.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return rc


def _b(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def mount(source: str | None, target: str, fstype: str | None, flags: int,
          data: str | None = None) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), f"mount {target}")


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), f"umount {target}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), "sethostname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(_libc.prctl(option, arg2, arg3, arg4, arg5), f"prctl({option})")


def pivot_root(new_root: str, put_old: str) -> None:
    number = _SYSCALLS[os.uname().machine]["pivot_root"]
    _check(_libc.syscall(_c.c_long(number), _b(new_root), _b(put_old)), "pivot_root")


class CapSets:
    """The three per-thread capability sets as 64-bit masks (bit n = capability n)."""

    __slots__ = ("effective", "inheritable", "permitted")

    def __init__(self, effective: int, permitted: int, inheritable: int) -> None:
        self.effective = effective
        self.permitted = permitted
        self.inheritable = inheritable


def capget() -> CapSets:
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capget(_c.byref(header), data), "capget")
    return CapSets(
        effective=data[0].effective | (data[1].effective << 32),
        permitted=data[0].permitted | (data[1].permitted << 32),
        inheritable=data[0].inheritable | (data[1].inheritable << 32),
    )


def capset(sets: CapSets) -> None:
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in (0, 1):
        shift = 32 * i
        data[i].effective = (sets.effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (sets.permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (sets.inheritable >> shift) & 0xFFFFFFFF
    _check(_libc.capset(_c.byref(header), data), "capset")


class _SockFprog(_c.Structure):
    _fields_ = (("len", _c.c_ushort), ("filter", _c.c_void_p))


def seccomp_install(program: bytes) -> None:
    """prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, program): ``program`` is struct sock_filter[]."""
    buf = _c.string_buffer(program)
    prog = _SockFprog(len(program) // 8, _c.addressof(buf))
    prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, _c.addressof(prog))


def seccomp_install_listener(program: bytes) -> int:
    """seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER): install and return the notify fd."""
    buf = _c.string_buffer(program)
    prog = _SockFprog(len(program) // 8, _c.addressof(buf))
    number = _SYSCALLS[os.uname().machine]["seccomp"]
    fd = _check(_libc.syscall(_c.c_long(number), _c.c_long(_SECCOMP_SET_MODE_FILTER),
                              _c.c_long(_SECCOMP_FILTER_FLAG_NEW_LISTENER),
                              _c.c_void_p(_c.addressof(prog))), "seccomp")
    os.set_inheritable(fd, False)
    return fd


# glibc keeps SIGCANCEL (32) and SIGSETXID (33) for itself: its sigaction refuses them, so
# Python can neither read nor reset them, yet a parent may have ignored them (GNU make does)
# and exec keeps an ignored disposition.
LIBC_INTERNAL_SIGNALS: Final = (32, 33)
# The kernel's struct sigaction (handler, flags, restorer, mask) all zero: SIG_DFL.
_SIGACTION_DEFAULT: Final = bytes(32)
# Looked up now: by the time signals are reset, the init may run under another personality
# (linux32 makes uname say i686).
_SYS_RT_SIGACTION: Final = _SYSCALLS.get(os.uname().machine, {}).get("rt_sigaction")


def default_disposition(sig: int) -> None:
    """rt_sigaction(sig, SIG_DFL) to the kernel itself, for the signals glibc's refuses."""
    if _SYS_RT_SIGACTION is None:
        raise OSError(errno.ENOSYS, f"rt_sigaction({sig}): unknown system call number on this machine")
    act = _c.string_buffer(_SIGACTION_DEFAULT)
    _check(_libc.syscall(_c.c_long(_SYS_RT_SIGACTION), _c.c_long(sig), act, None, _c.c_long(8)),
           "rt_sigaction")


def personality(persona: int) -> None:
    _check(_libc.personality(_c.c_ulong(persona)), "personality")


def ioprio_set(value: int) -> None:
    """ioprio_set(IOPRIO_WHO_PROCESS, 0 = the caller, value)."""
    number = _SYSCALLS[os.uname().machine]["ioprio_set"]
    _check(_libc.syscall(_c.c_long(number), _c.c_long(_IOPRIO_WHO_PROCESS),
                         _c.c_long(0), _c.c_long(value)), "ioprio_set")


class _SchedAttr(_c.Structure):
    _fields_ = (("size", _c.c_uint32), ("policy", _c.c_uint32), ("flags", _c.c_uint64),
                ("nice", _c.c_int32), ("priority", _c.c_uint32),
                ("runtime", _c.c_uint64), ("deadline", _c.c_uint64),
                ("period", _c.c_uint64))


def sched_setattr(policy: int, flags: int, nice: int, priority: int, runtime: int, deadline: int,
                  period: int) -> None:
    """sched_setattr(0 = the caller, attr, 0) with the first (48-byte) struct sched_attr."""
    attr = _SchedAttr(_c.sizeof(_SchedAttr), policy, flags, nice, priority, runtime, deadline,
                      period)
    number = _SYSCALLS[os.uname().machine]["sched_setattr"]
    _check(_libc.syscall(_c.c_long(number), _c.c_long(0), _c.byref(attr),
                         _c.c_long(0)), "sched_setattr")


def capbset_drop(cap: int) -> None:
    prctl(_PR_CAPBSET_DROP, cap)


def cap_ambient_raise(cap: int) -> None:
    prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, cap)


class _MountAttr(_c.Structure):
    _fields_ = (("attr_set", _c.c_uint64), ("attr_clr", _c.c_uint64),
                ("propagation", _c.c_uint64), ("userns_fd", _c.c_uint64))


# x86_64 / aarch64 share these numbers (the new mount API came after the syscall tables merged).
_SYS_OPEN_TREE: Final = 428
_SYS_MOVE_MOUNT: Final = 429
_SYS_MOUNT_SETATTR: Final = 442
_AT_FDCWD: Final = -100
_AT_EMPTY_PATH: Final = 0x1000
_AT_RECURSIVE: Final = 0x8000
_OPEN_TREE_CLONE: Final = 1
_MOVE_MOUNT_F_EMPTY_PATH: Final = 0x4
_MOUNT_ATTR_IDMAP: Final = 0x00100000


def mount_setattr(path: str, attr_set: int, attr_clr: int = 0, recursive: bool = False) -> None:
    """Change the per-mount attributes of the mount at ``path`` (and, ``recursive``, of every
    mount under it); attributes in neither set nor clear stay as they are."""
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    _check(_libc.syscall(_c.c_long(_SYS_MOUNT_SETATTR), _AT_FDCWD, _b(path),
                         _AT_RECURSIVE if recursive else 0, _c.byref(attr), _c.sizeof(attr)),
           f"mount_setattr {path}")


def idmapped_clone(source: str, target: str, userns_fd: int) -> None:
    """Attach at ``target`` a clone of the tree at ``source`` whose ids are shifted by the maps
    of the user namespace ``userns_fd`` (open_tree + mount_setattr(MOUNT_ATTR_IDMAP) + move_mount)."""
    fd = _check(_libc.syscall(_c.c_long(_SYS_OPEN_TREE), _AT_FDCWD, _b(source),
                              _OPEN_TREE_CLONE | os.O_CLOEXEC | _AT_RECURSIVE), f"open_tree {source}")
    try:
        attr = _MountAttr(_MOUNT_ATTR_IDMAP, 0, 0, userns_fd)
        _check(_libc.syscall(_c.c_long(_SYS_MOUNT_SETATTR), fd, b"", _AT_EMPTY_PATH | _AT_RECURSIVE,
                             _c.byref(attr), _c.sizeof(attr)), f"idmap {source}")
        _check(_libc.syscall(_c.c_long(_SYS_MOVE_MOUNT), fd, b"", _AT_FDCWD, _b(target),
                             _MOVE_MOUNT_F_EMPTY_PATH), f"move_mount {target}")
    finally:
        os.close(fd)
