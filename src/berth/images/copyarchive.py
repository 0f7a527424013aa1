"""``docker cp`` archives: the path stat header, tarring a path out, extracting a tar in.

Owns the Go ``FileMode`` encoding of ``X-Docker-Container-Path-Stat``, writing a file or a
tree as a tar whose top entry is the path's base name (links are stored, never followed),
and extracting an uploaded tar into a container directory — hostile-input code: entry
names are cleaned as moby cleans them (an absolute name lands under the destination, ``..``
stops at the container's root, a name above the destination fails the archive), entries keep
their uid and gid unless the caller gives an owner, every parent is resolved with
``berth.images.scoped`` so nothing lands outside the container's root, files are opened
with ``O_NOFOLLOW``, hard links must point at files inside the root, fifos and device
nodes are made as moby makes them, ``SCHILY.xattr`` records are set, and sizes and entry
counts are bounded. It must not know about containers:
callers give a root directory.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import posixpath
import shutil
import stat
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from berth.errors import Internal, InvalidArgument
from berth.images.compression import HashingReader, decompressor
from berth.images.gotar import GoTarWriter
from berth.images.layer import Limits
from berth.images.ownernames import OwnerNames
from berth.images.scoped import resolve

__all__ = ["PathStat", "extract_into", "path_stat", "write_path_tar", "write_tree_contents"]

_CHUNK = 1 << 20
_XATTR = "SCHILY.xattr."
# Go's os.FileMode type bits.
_GO_DIR = 1 << 31
_GO_SYMLINK = 1 << 27
_GO_DEVICE = 1 << 26
_GO_PIPE = 1 << 25
_GO_SOCKET = 1 << 24
_GO_SETUID = 1 << 23
_GO_SETGID = 1 << 22
_GO_CHARDEV = 1 << 21
_GO_STICKY = 1 << 20


@dataclass(frozen=True)
class PathStat:
    """Docker's ``types.ContainerPathStat``."""

    name: str
    size: int
    mode: int
    mtime: str
    link_target: str

    def header(self) -> str:
        """The base64 JSON of ``X-Docker-Container-Path-Stat``."""
        body = {"name": self.name, "size": self.size, "mode": self.mode,
                "mtime": self.mtime, "linkTarget": self.link_target}
        return base64.b64encode(json.dumps(body).encode()).decode()

    @property
    def is_dir(self) -> bool:
        return bool(self.mode & _GO_DIR)


def _go_mode(st: os.stat_result) -> int:
    mode = st.st_mode & 0o777
    fmt = stat.S_IFMT(st.st_mode)
    mode |= {stat.S_IFDIR: _GO_DIR, stat.S_IFLNK: _GO_SYMLINK, stat.S_IFIFO: _GO_PIPE,
             stat.S_IFSOCK: _GO_SOCKET, stat.S_IFBLK: _GO_DEVICE,
             stat.S_IFCHR: _GO_DEVICE | _GO_CHARDEV}.get(fmt, 0)
    if st.st_mode & stat.S_ISUID:
        mode |= _GO_SETUID
    if st.st_mode & stat.S_ISGID:
        mode |= _GO_SETGID
    if st.st_mode & stat.S_ISVTX:
        mode |= _GO_STICKY
    return mode


def path_stat(root: Path, container_path: str) -> tuple[Path, PathStat]:
    """Resolve ``container_path`` and stat it; FileNotFoundError when missing.

    Its last link is not followed, unless the path ends in ``/`` or ``/.``: that asks for a
    directory, so the link is followed, and a path that is not one (or that goes through a
    file, ``/etc/hosts/x``) raises NotADirectoryError, as lstat does for Docker."""
    wants_dir = container_path.endswith(("/", "/.")) and container_path.strip("/.") != ""
    host = resolve(root, container_path, follow_last=wants_dir)
    st = os.lstat(host)
    if wants_dir and not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(container_path)
    link_target = ""
    if stat.S_ISLNK(st.st_mode):
        target = resolve(root, container_path, follow_last=True)
        link_target = "/" + target.relative_to(root).as_posix()
    name = os.path.basename(container_path.rstrip("/")) or "/"
    mtime = datetime.fromtimestamp(st.st_mtime, UTC).isoformat().replace("+00:00", "Z")
    return host, PathStat(name=name, size=st.st_size, mode=_go_mode(st), mtime=mtime,
                          link_target=link_target)


def write_path_tar(host: Path, arcname: str, out: BinaryIO, names: OwnerNames) -> None:
    """Tar ``host`` (a file, link or tree) as ``arcname`` to ``out`` (``docker cp``): links
    kept, entries and owner names as dockerd writes them (``berth.images.gotar``)."""
    tar = GoTarWriter(out, names)
    _add_tree(tar, host, arcname, os.lstat(host))
    tar.close()


def write_tree_contents(directory: Path, out: BinaryIO, names: OwnerNames) -> None:
    """Tar everything under ``directory`` named relative to it, itself left out (export)."""
    tar = GoTarWriter(out, names)
    for child in _children(directory):
        _add_tree(tar, directory / child, child, os.lstat(directory / child))
    tar.close()


def _children(directory: Path) -> list[str]:
    # Go's walk sorts names bytewise; str order differs for undecodable (surrogate) names.
    return sorted(os.listdir(directory), key=os.fsencode)


def _add_tree(tar: GoTarWriter, path: Path, name: str, st: os.stat_result) -> None:
    """``path`` then, for a directory, each child depth first, as moby walks a tree."""
    tar.add(path, name, st)
    if stat.S_ISDIR(st.st_mode):
        for child in _children(path):
            _add_tree(tar, path / child, f"{name.rstrip('/')}/{child}", os.lstat(path / child))


def _clean(name: str, dest: str) -> list[str]:
    """The components of entry ``name`` under extraction directory ``dest``, as moby cleans
    it: ``..`` that stays inside (or stops at the container's root) and a leading ``/``
    (under ``dest``) are fine, a name reaching above ``dest`` fails the archive with moby's
    message (a 500)."""
    cleaned = posixpath.normpath(name) if name else "."
    # Go's Join(dest, name): under ``dest`` even when absolute; ``..`` stops at the root
    rel = posixpath.relpath(posixpath.normpath(posixpath.join(dest, cleaned.lstrip("/"))), dest)
    if rel == ".." or rel.startswith("../"):
        raise Internal(f'Error processing tar file(exit status 1): "{cleaned}" is outside of "{dest}"')
    return [p for p in rel.split("/") if p not in ("", ".")]


def _parent_dir(root: Path, rel_base: str, dirs: list[str], name: str) -> Path:
    """The directory that receives entry ``name``; parents the archive does not list are
    created (0755), as Docker does for ``data/f`` without a ``data/`` entry. Each one is
    resolved inside ``root`` before it is made, so none can be created outside."""
    for depth in range(len(dirs) + 1):
        path = resolve(root, rel_base + "/" + "/".join(dirs[:depth]))
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            os.mkdir(path, 0o755)
            continue
        # ``root`` itself may be the /proc/<pid>/root magic link.
        if not stat.S_ISDIR(st.st_mode) and path != root:
            raise InvalidArgument(f"invalid archive entry {name!r}: parent is not a directory")
    return path


def extract_into(source: Path, root: Path, dest: str, *, owner: tuple[int, int] | None = None,
                 no_overwrite_dir_non_dir: bool = False, limits: Limits | None = None) -> None:
    """Extract the tar at ``source`` into container directory ``dest`` under ``root``; the
    entries keep their uid and gid, as dockerd keeps them, unless ``owner`` is given."""
    limits = limits or Limits()
    base = resolve(root, dest)
    if not base.is_dir():
        # moby's message and status (500), whatever the path
        raise Internal("extraction point is not a directory")
    rel_base = "/" + base.relative_to(root).as_posix()
    shown = posixpath.normpath(rel_base)
    entries = 0
    total = 0
    dirs: list[tuple[Path, tarfile.TarInfo]] = []
    with source.open("rb") as raw:
        reader = HashingReader(decompressor(raw), limits.max_bytes + (1 << 30))
        try:
            with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
                for m in tar:
                    entries += 1
                    if entries > limits.max_entries:
                        raise InvalidArgument(f"archive has more than {limits.max_entries} entries")
                    parts = _clean(m.name, shown)
                    if not parts:
                        continue
                    if len(m.name) > limits.max_path:
                        raise InvalidArgument(f"archive entry name longer than {limits.max_path}")
                    if not (m.isreg() or m.isdir() or m.issym() or m.islnk() or m.isfifo()
                            or m.ischr() or m.isblk()):
                        raise InvalidArgument(
                            f"invalid archive entry {m.name!r}: unsupported type {m.type!r}")
                    parent = _parent_dir(root, rel_base, parts[:-1], m.name)
                    path = parent / parts[-1]
                    existing = _lstat(path)
                    if existing is not None and no_overwrite_dir_non_dir and (
                            stat.S_ISDIR(existing.st_mode) != m.isdir()):
                        kind = "directory" if stat.S_ISDIR(existing.st_mode) else "non-directory"
                        raise InvalidArgument(f"cannot overwrite {kind} {parts[-1]!r} with "
                                              f"{'directory' if m.isdir() else 'non-directory'}")
                    if m.isdir():
                        if existing is not None and not stat.S_ISDIR(existing.st_mode):
                            os.unlink(path)
                            existing = None
                        if existing is None:
                            os.mkdir(path, 0o700)
                        dirs.append((path, m))
                        continue
                    if existing is not None:
                        if stat.S_ISDIR(existing.st_mode):
                            shutil.rmtree(path)
                        else:
                            os.unlink(path)
                    if m.isreg():
                        total += m.size
                        if total > limits.max_bytes:
                            raise InvalidArgument(f"archive content exceeds {limits.max_bytes} bytes")
                        src = tar.extractfile(m)
                        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                                     0o600)
                        with os.fdopen(fd, "wb") as out:
                            while src is not None and (chunk := src.read(_CHUNK)):
                                out.write(chunk)
                    elif m.issym():
                        os.symlink(m.linkname, path)
                    elif m.isfifo() or m.ischr() or m.isblk():
                        # moby makes them too (the API's caller is root; the container's device
                        # cgroup still decides what it may open)
                        fmt = stat.S_IFIFO if m.isfifo() else stat.S_IFCHR if m.ischr() else stat.S_IFBLK
                        os.mknod(path, fmt | 0o600, os.makedev(m.devmajor, m.devminor))
                    else:
                        target = resolve(root, rel_base + "/" + "/".join(_clean(m.linkname, shown)),
                                         follow_last=False)
                        tst = _lstat(target)
                        if tst is None or stat.S_ISDIR(tst.st_mode):
                            raise InvalidArgument(f"invalid archive entry {m.name!r}: hard link "
                                                  "target is missing or a directory")
                        os.link(target, path, follow_symlinks=False)
                        continue
                    _meta(path, m, owner)
        except tarfile.TarError as e:
            raise InvalidArgument(f"invalid tar archive: {e}") from e
    for path, m in sorted(dirs, key=lambda d: len(d[0].parts), reverse=True):
        _meta(path, m, owner)


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _meta(path: Path, m: tarfile.TarInfo, owner: tuple[int, int] | None) -> None:
    """Owner, attributes, mode and time of an extracted entry. Through a descriptor opened
    without following links where one can be opened (a directory's are set last, after the
    archive: an entry may have put a link to the host in its place meanwhile)."""
    uid, gid = owner if owner is not None else (m.uid, m.gid)
    times = (int(m.mtime * 1e9),) * 2
    if m.issym() or m.ischr() or m.isblk():
        # a device is never opened; it was just made, as a file or a link the chmod can't reach
        os.lchown(path, uid, gid)
        _xattrs(path, m)
        if not m.issym() and not stat.S_ISLNK(os.lstat(path).st_mode):
            os.chmod(path, m.mode & 0o7777)
        os.utime(path, ns=times, follow_symlinks=False)
        return
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags | (os.O_DIRECTORY if m.isdir() else 0))
    except OSError as e:
        if m.isdir() and e.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
            return  # no longer the directory the archive made
        raise
    try:
        os.fchown(fd, uid, gid)
        _xattrs(fd, m)
        os.fchmod(fd, m.mode & 0o7777)
        os.utime(fd, ns=times)
    finally:
        os.close(fd)


def _xattrs(target: Path | int, m: tarfile.TarInfo) -> None:
    # After the chown, which would clear security.capability; moby skips what the file
    # system refuses (ENOTSUP, EPERM: overlay's own trusted.overlay.*).
    for key, value in m.pax_headers.items():
        if key.startswith(_XATTR):
            try:
                if isinstance(target, int):
                    os.setxattr(target, key[len(_XATTR):], value.encode("utf-8", "surrogateescape"))
                else:
                    os.setxattr(target, key[len(_XATTR):], value.encode("utf-8", "surrogateescape"),
                                follow_symlinks=False)
            except OSError as e:
                if e.errno not in (errno.ENOTSUP, errno.EPERM):
                    raise
