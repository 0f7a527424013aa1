"""Applying a layer tar onto an empty snapshot directory — hostile-input code.

Owns turning a (possibly compressed) tar stream into files, with Docker/OCI whiteouts
(``.wh.NAME``, ``.wh..wh..opq``) turned into overlayfs ones (0/0 char device,
``trusted.overlay.opaque=y``). Every path is checked before it is created: no absolute
names, no ``..``, no writing through a symlink or a non-directory, hard links only to files
already extracted from this layer, and bounded entry count, path length and bytes. Each
rejection is InvalidArgument. Extraction happens in a temp dir renamed onto the target only
on success, so a rejected layer leaves nothing behind.

Speed: a compressed (or unverified) source is read once as a stream, hashed and extracted
together, through a 1 MiB tar buffer (tarfile's default 10 KiB record buffer made every read a
Python call per 10 KiB). An uncompressed source whose digest the caller already verified (a
content-store blob) is not hashed again: tar headers are read by seeking and file data is
copied inside the kernel (``copy_file_range``), so no layer byte passes through Python.

It must not know about snapshots, blobs or images: callers pass a file and a directory.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from berth.errors import InvalidArgument
from berth.images.compression import Compression, HashingReader, decompressor, detect
from berth.store.writeback import start_writeback

__all__ = ["LayerStats", "Limits", "apply_layer"]

_WH = ".wh."
_OPAQUE = ".wh..wh..opq"
_META_PREFIX = ".wh..wh."
_XATTR = "SCHILY.xattr."
_CHUNK = 1 << 20
_COPY_MAX = 1 << 30


@dataclass(frozen=True)
class Limits:
    """Bounds on what one layer may contain."""

    max_entries: int = 1_000_000
    max_bytes: int = 64 << 30
    max_path: int = 4096


@dataclass(frozen=True)
class LayerStats:
    """What was applied: ``diff_id`` is the sha256 of the whole uncompressed tar."""

    diff_id: str
    entries: int
    size: int


def _reject(name: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"invalid layer entry {name!r}: {why}")


def _clean(name: str, limits: Limits) -> list[str]:
    if len(name) > limits.max_path:
        raise _reject(name[:64] + "...", f"path longer than {limits.max_path} bytes")
    if name.startswith("/"):
        raise _reject(name, "absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _reject(name, "path contains '..'")
    return parts


def _parent(root: Path, parts: list[str], name: str, create: bool) -> Path:
    """The directory that will hold ``parts[-1]``, refusing to pass through links or files."""
    d = root
    for p in parts[:-1]:
        d = d / p
        try:
            st = os.lstat(d)
        except FileNotFoundError:
            if not create:
                raise _reject(name, "link target does not exist in this layer") from None
            os.mkdir(d, 0o755)
            continue
        if stat.S_ISLNK(st.st_mode):
            raise _reject(name, f"parent {p!r} is a symlink")
        if not stat.S_ISDIR(st.st_mode):
            raise _reject(name, f"parent {p!r} is not a directory")
    return d


def _clear(path: Path, keep_dir: bool) -> None:
    """Make room for a later entry with the same name: the last entry in a tar wins."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if not keep_dir:
            shutil.rmtree(path)
    else:
        os.unlink(path)


class _Extractor:
    def __init__(self, root: Path, limits: Limits, source_fd: int | None = None) -> None:
        self.root = root
        self.limits = limits
        self.source_fd = source_fd
        """The uncompressed tar's fd when the tar is read by seeking: data is copied from it."""
        self.entries = 0
        self.size = 0
        self.dirs: list[tuple[Path, tarfile.TarInfo]] = []

    def member(self, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise InvalidArgument(f"layer has more than {self.limits.max_entries} entries")
        parts = _clean(m.name, self.limits)
        if not parts:
            return  # "./": the root itself keeps the snapshot's own mode
        base = parts[-1]
        parent = _parent(self.root, parts, m.name, create=True)
        if base == _OPAQUE:
            os.setxattr(parent, "trusted.overlay.opaque", b"y")
            return
        if base.startswith(_META_PREFIX):
            return  # aufs bookkeeping (.wh..wh.plnk and friends): not content
        if base.startswith(_WH):
            hidden = base[len(_WH):]
            if hidden in ("", ".", ".."):
                raise _reject(m.name, "invalid whiteout")
            _clear(parent / hidden, keep_dir=False)
            os.mknod(parent / hidden, stat.S_IFCHR | 0o600, os.makedev(0, 0))
            return
        path = parent / base
        if m.isdir():
            _clear(path, keep_dir=True)
            if not path.is_dir():
                os.mkdir(path, 0o700)
            self.dirs.append((path, m))
            return
        _clear(path, keep_dir=False)
        if m.isreg():
            self._file(tar, m, path)
        elif m.issym():
            os.symlink(m.linkname, path)
        elif m.islnk():
            self._hardlink(m, path)
            return  # a hard link shares its target's inode: metadata is the target's
        elif m.ischr() or m.isblk():
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
            os.mknod(path, kind | 0o600, os.makedev(m.devmajor, m.devminor))
        elif m.isfifo():
            os.mkfifo(path, 0o600)
        else:
            raise _reject(m.name, f"unsupported entry type {m.type!r}")
        self._meta(path, m)

    def _file(self, tar: tarfile.TarFile, m: tarfile.TarInfo, path: Path) -> None:
        self.size += m.size
        if self.size > self.limits.max_bytes:
            raise InvalidArgument(f"layer content exceeds {self.limits.max_bytes} bytes")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            if self.source_fd is not None and m.sparse is None:
                _copy_range(self.source_fd, fd, m.offset_data, m.size, m.name)
            else:
                src = tar.extractfile(m)
                while src is not None and (chunk := src.read(_CHUNK)):
                    _write_all(fd, chunk)
            # The snapshot is synced before it is committed: start the disk write now.
            start_writeback(fd)
        finally:
            os.close(fd)

    def _hardlink(self, m: tarfile.TarInfo, path: Path) -> None:
        parts = _clean(m.linkname, self.limits)
        if not parts:
            raise _reject(m.name, "hard link to the layer root")
        target = _parent(self.root, parts, m.name, create=False) / parts[-1]
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            raise _reject(m.name, "hard link target does not exist in this layer") from None
        if stat.S_ISDIR(st.st_mode):
            raise _reject(m.name, "hard link to a directory")
        os.link(target, path, follow_symlinks=False)

    def _meta(self, path: Path, m: tarfile.TarInfo) -> None:
        os.lchown(path, m.uid, m.gid)
        for key, value in m.pax_headers.items():
            if not key.startswith(_XATTR):
                continue
            attr = key[len(_XATTR):]
            # trusted.overlay.* would let a layer forge whiteouts/redirects for overlayfs.
            if attr.startswith("trusted.overlay."):
                continue
            os.setxattr(path, attr, value.encode("utf-8", "surrogateescape"),
                        follow_symlinks=False)
        if not m.issym():
            # After chown, which clears set-id bits.
            os.chmod(path, m.mode & 0o7777)
        os.utime(path, ns=(int(m.mtime * 1e9),) * 2, follow_symlinks=False)

    def finish(self) -> None:
        # Directories last and deepest first: creating children changes a dir's mtime.
        for path, m in sorted(self.dirs, key=lambda d: len(d[0].parts), reverse=True):
            if path.is_dir() and not path.is_symlink():
                self._meta(path, m)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _copy_range(src: int, dst: int, offset: int, size: int, name: str) -> None:
    """Copy ``size`` bytes at ``offset`` of ``src`` to ``dst`` without passing them through
    Python; a source shorter than its tar header says is a truncated layer."""
    while size > 0:
        try:
            n = os.copy_file_range(src, dst, min(size, _COPY_MAX), offset)
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            n = os.sendfile(dst, src, offset, min(size, _COPY_MAX))
        if n == 0:
            raise _reject(name, "file data truncated")
        offset += n
        size -= n


def _extract_stream(raw: BinaryIO, ex: _Extractor, limits: Limits) -> str:
    """Hash and extract a (possibly compressed) stream in one pass; returns its digest."""
    reader = HashingReader(decompressor(raw), limits.max_bytes + (1 << 30))
    try:
        with tarfile.open(fileobj=reader, mode="r|",  # type: ignore[call-overload]
                          bufsize=_CHUNK) as tar:
            for m in tar:
                ex.member(tar, m)
    except tarfile.TarError as e:
        raise InvalidArgument(f"invalid tar archive: {e}") from e
    reader.drain()
    return reader.digest


def _extract_seekable(raw: BinaryIO, ex: _Extractor) -> None:
    """Extract an uncompressed tar file by seeking over its data, which the kernel copies."""
    try:
        with tarfile.open(fileobj=raw, mode="r:") as tar:
            for m in tar:
                ex.member(tar, m)
    except tarfile.TarError as e:
        raise InvalidArgument(f"invalid tar archive: {e}") from e


def apply_layer(source: Path, target: Path, limits: Limits | None = None,
                verified_digest: str | None = None) -> LayerStats:
    """Extract the layer tar at ``source`` (plain, gzip, bzip2, xz, zstd) into ``target``.

    ``target`` must be an empty directory or not exist; on any error it is left as it was.
    ``verified_digest`` is the sha256 of ``source``'s bytes when the caller has already
    checked it (a content-store blob): an uncompressed source is then not read again to hash
    it, and that digest is the diff ID.
    """
    limits = limits or Limits()
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=".extract-"))
    try:
        os.chmod(work, 0o755)
        with source.open("rb") as raw:
            seekable = verified_digest is not None and detect(raw.read(6)) is Compression.NONE
            raw.seek(0)
            ex = _Extractor(work, limits, raw.fileno() if seekable else None)
            if seekable:
                assert verified_digest is not None
                _extract_seekable(raw, ex)
                diff_id = verified_digest
            else:
                diff_id = _extract_stream(raw, ex, limits)
            ex.finish()
        os.rename(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return LayerStats(diff_id=diff_id, entries=ex.entries, size=ex.size)
