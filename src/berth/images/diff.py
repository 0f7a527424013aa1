"""Producing a layer tar from an overlay upper directory (for commit and build).

Owns the reverse whiteout translation: a 0/0 char device becomes ``.wh.NAME`` and a
directory marked ``trusted.overlay.opaque=y`` gets a ``.wh..wh..opq`` entry. Hard links
within the directory are kept as tar hard links. It must not compress or store the result:
callers write the stream where they want it (e.g. through a content-store writer).
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path
from typing import Protocol

from berth.errors import Internal

__all__ = ["Sink", "layer_bytes", "write_layer"]

_KEPT_XATTRS = ("security.capability",)
_ENCODING = "utf-8"
_CHUNK = 1 << 20


def _opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def _empty(name: str, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = 0o600
    info.mtime = mtime
    return info


class Sink(Protocol):
    """Where a layer tar goes: a file, or a content-store writer hashing as it writes."""

    def write(self, data: bytes, /) -> int: ...


class _TarOut:
    """A PAX tar written straight to ``out``: headers from ``TarInfo.tobuf``, file data in
    1 MiB chunks. tarfile's stream writer re-sliced its whole buffer every 10 KiB record,
    which made writing a layer cost several copies of every byte."""

    def __init__(self, out: Sink) -> None:
        self._out = out
        self.offset = 0

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self.offset += len(data)

    def header(self, info: tarfile.TarInfo) -> None:
        self._write(info.tobuf(tarfile.PAX_FORMAT, _ENCODING, "surrogateescape"))

    def data(self, path: Path, size: int, name: str) -> None:
        left = size
        with path.open("rb", buffering=0) as f:
            while left > 0:
                chunk = f.read(min(left, _CHUNK))
                if not chunk:
                    raise Internal(f"{name} shrank while its layer was written")
                self._write(chunk)
                left -= len(chunk)
        if size % tarfile.BLOCKSIZE:
            self._write(tarfile.NUL * (tarfile.BLOCKSIZE - size % tarfile.BLOCKSIZE))

    def close(self) -> None:
        # The end-of-archive marker and record padding tarfile writes: same bytes as before.
        self._write(tarfile.NUL * (tarfile.BLOCKSIZE * 2))
        if self.offset % tarfile.RECORDSIZE:
            self._write(tarfile.NUL * (tarfile.RECORDSIZE - self.offset % tarfile.RECORDSIZE))


def _tarinfo(path: Path, rel: str, st: os.stat_result) -> tarfile.TarInfo | None:
    """The entry for ``path`` (what ``TarFile.gettarinfo`` gives, without owner names);
    None for a socket, which a layer cannot hold."""
    info = tarfile.TarInfo(rel)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = st.st_mtime
    info.uname = info.gname = ""
    mode = st.st_mode
    if stat.S_ISREG(mode):
        info.size = st.st_size
    elif stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(path)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    else:
        return None
    return info


def write_layer(upper: Path, out: Sink, skip: frozenset[str] = frozenset()) -> int:
    """Write ``upper`` as an uncompressed layer tar to ``out``; returns the entry count.

    Entries are sorted by path so the same directory gives the same bytes; ``skip`` names
    entries (``etc/hosts``, a directory with all it holds) left out.
    """
    count = 0
    links: dict[tuple[int, int], str] = {}
    tar = _TarOut(out)
    for dirpath, dirnames, filenames in os.walk(upper):
        dirnames.sort()
        here = Path(dirpath)
        rel_dir = here.relative_to(upper)
        for name in sorted(dirnames + filenames):
            path = here / name
            rel = (rel_dir / name).as_posix()
            if rel in skip:
                continue
            st = os.lstat(path)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0):
                tar.header(_empty((rel_dir / f".wh.{name}").as_posix(), st.st_mtime))
                count += 1
                continue
            info = _tarinfo(path, rel, st)
            if info is None:
                continue
            pax: dict[str, str] = {}
            for attr in _KEPT_XATTRS:
                try:
                    value = os.getxattr(path, attr, follow_symlinks=False)
                except OSError:
                    continue
                pax["SCHILY.xattr." + attr] = value.decode("utf-8", "surrogateescape")
            info.pax_headers = pax
            if info.isreg():
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in links:
                    info.type = tarfile.LNKTYPE
                    info.linkname = links[key]
                    info.size = 0
                    tar.header(info)
                else:
                    links[key] = rel
                    tar.header(info)
                    tar.data(path, info.size, rel)
            else:
                tar.header(info)
            count += 1
            if stat.S_ISDIR(st.st_mode) and _opaque(path):
                tar.header(_empty(f"{rel}/.wh..wh..opq", st.st_mtime))
                count += 1
    tar.close()
    return count


def layer_bytes(upper: Path) -> bytes:
    """The layer tar of ``upper`` in memory (small layers and tests)."""
    buf = io.BytesIO()
    write_layer(upper, buf)
    return buf.getvalue()

