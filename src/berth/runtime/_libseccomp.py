"""ctypes bindings to libseccomp, used only to turn rules into a BPF program.

The caller builds the program before forking (``export_bpf``); the container's init then
only needs one prctl to install it (``_sys.seccomp_install``). Errors are OSError with the
errno libseccomp returned, like the wrappers in ``_sys``. Nothing here reads OCI specs.
"""

from __future__ import annotations

import ctypes
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Final

__all__ = ["NR_UNKNOWN", "ArgCmp", "Filter", "version"]

NR_UNKNOWN: Final = -1  # __NR_SCMP_ERROR
_SONAME: Final = "libseccomp.so.2"


class ArgCmp(ctypes.Structure):
    """struct scmp_arg_cmp."""

    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


def _open() -> ctypes.CDLL:
    try:
        return ctypes.CDLL(_SONAME, use_errno=True)
    except OSError as exc:
        raise OSError(2, f"{_SONAME} is not installed (apt-get install libseccomp2): {exc}") from exc


def _lib() -> ctypes.CDLL:
    lib = _open()
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.restype = None
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.POINTER(ArgCmp)]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


class _Version(ctypes.Structure):
    """struct scmp_version."""

    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


def version() -> str:
    """libseccomp's ``major.minor.micro``: which syscall names it knows depends on it."""
    lib = _open()  # not _lib(): a cache hit needs only this one function
    lib.seccomp_version.restype = ctypes.POINTER(_Version)
    v = lib.seccomp_version().contents
    return f"{v.major}.{v.minor}.{v.micro}"


def _check(rc: int, what: str) -> None:
    if rc < 0:
        raise OSError(-rc, f"{what}: {os.strerror(-rc)}")


class Filter:
    """A libseccomp filter context; use as a context manager so it is always released."""

    def __init__(self, default_action: int) -> None:
        self._lib = _lib()
        ctx = self._lib.seccomp_init(default_action)
        if not ctx:
            raise OSError(22, f"seccomp_init({default_action:#x}) failed")
        self._ctx: int = ctx

    def __enter__(self) -> Filter:
        return self

    # Lookups go through the filter's own library handle: a CDLL built per call (dlopen and
    # argtypes again) cost ~20 ms per container for the ~360 syscalls of the default profile.
    def arch_token(self, name: str) -> int:
        """libseccomp's token for ``x86_64``/``x86``/``x32``/``aarch64``/...; 0 if unknown."""
        return int(self._lib.seccomp_arch_resolve_name(name.encode()))

    def syscall_number(self, name: str) -> int:
        """The native number of ``name``, or NR_UNKNOWN when this architecture lacks it."""
        return int(self._lib.seccomp_syscall_resolve_name(name.encode()))

    def __exit__(self, *exc: object) -> None:
        self._lib.seccomp_release(self._ctx)

    def add_arch(self, token: int) -> None:
        rc = int(self._lib.seccomp_arch_add(self._ctx, token))
        if rc != -17:  # EEXIST: the native architecture is always there
            _check(rc, f"seccomp_arch_add({token:#x})")

    def add_rule(self, action: int, number: int, args: Sequence[ArgCmp]) -> None:
        array = (ArgCmp * max(len(args), 1))(*args)
        _check(int(self._lib.seccomp_rule_add_array(self._ctx, action, number, len(args), array)),
               f"seccomp_rule_add(syscall {number})")

    def export_bpf(self) -> bytes:
        fd = os.memfd_create("berth-seccomp", os.MFD_CLOEXEC)
        try:
            _check(int(self._lib.seccomp_export_bpf(self._ctx, fd)), "seccomp_export_bpf")
            size = os.lseek(fd, 0, os.SEEK_END)
            return os.pread(fd, size, 0)
        finally:
            os.close(fd)
