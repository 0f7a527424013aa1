"""Content-addressed cache of compiled seccomp programs: ``<dir>/<sha256>.bpf``.

libseccomp takes ~50 ms and dirties ~2 MB to turn Docker's default profile into BPF, at every
container start and every exec, although the program depends only on the ``linux.seccomp``
object, the host architecture and libseccomp's version. The key is the SHA-256 of those
three; a hit is one small read, and libseccomp is not called (beyond its version).

On disk: the program (struct sock_filter[], 8 bytes per instruction) followed by the
SHA-256 of the program, written to a temp file 0600 and renamed into place (the directory
is 0700). A file that is not ours (owner, mode, symlink), truncated or corrupted is ignored
and replaced by a fresh compile, so a bad cache can cost time, never install a wrong filter.
Owns nothing else: compiling is the caller's ``build`` callable; installing is seccomp.py's.
"""

from __future__ import annotations

import os
import stat

from berth.runtime import _fastjson
from berth.runtime._suppress import suppress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, Final

__all__ = ["cached_program", "key_for", "load", "store"]

_DIGEST: Final = 32
_INSN: Final = 8
_MAX_INSNS: Final = 4096  # BPF_MAXINSNS: the kernel refuses longer classic programs
_SUFFIX: Final = ".bpf"


def key_for(seccomp: Mapping[str, Any], machine: str, library: str) -> str:
    """Hex SHA-256 naming the program of ``seccomp`` on ``machine`` built by ``library``."""
    text = _fastjson.dumps(seccomp, sort_keys=True, separators=(",", ":"), default=str)
    return _sha256(f"{machine}\0{library}\0{text}".encode()).hex()


def _sha256(data: bytes) -> bytes:
    import hashlib  # here: only specs with seccomp need it, and it cost ~3 ms of every start

    return hashlib.sha256(data).digest()


def _path(directory: str | os.PathLike[str], key: str) -> str:
    return os.path.join(directory, f"{key}{_SUFFIX}")


def load(directory: str | os.PathLike[str], key: str) -> bytes | None:
    """The cached program for ``key``, or None when absent or not trustworthy."""
    try:
        fd = os.open(_path(directory, key), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077
                or st.st_size > _MAX_INSNS * _INSN + _DIGEST):
            return None
        data = os.read(fd, st.st_size + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    program, digest = data[:-_DIGEST], data[-_DIGEST:]
    if (len(data) <= _DIGEST or len(program) % _INSN
            or _sha256(program) != digest):
        return None
    return program


def store(directory: str | os.PathLike[str], key: str, program: bytes) -> None:
    """Write ``program`` under ``key`` atomically; a failure only means no cache next time."""
    tmp: str | None = None
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        tmp = os.path.join(directory, f".{key}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, program + _sha256(program))
        finally:
            os.close(fd)
        os.replace(tmp, _path(directory, key))
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            with suppress(OSError):
                os.unlink(tmp)


def cached_program(directory: str | os.PathLike[str], key: str, build: Callable[[], bytes]) -> bytes:
    """The program under ``key``: from the cache, else ``build()`` and remember it."""
    program = load(directory, key)
    if program is None:
        program = build()
        store(directory, key, program)
    return program
