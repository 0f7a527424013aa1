"""COPY and ADD: finding sources and placing them into an image's mounted root filesystem.

Owns Docker's rules: sources are relative to their root (the context, a stage or an image)
and may not leave it; globs (``*``, ``?``, ``[...]``) match within one path element and
match dotfiles; a directory source copies its contents; several sources need a destination
ending in ``/``; a destination ending in ``/`` (or an existing directory) receives files by
their base name; relative destinations are relative to WORKDIR; new directories and copied
entries belong to root unless ``--chown``; modes and mtimes are kept. ADD also unpacks a
local tar archive (plain, gzip, bzip2, xz) into the destination. Paths inside the
destination root resolve symlinks as if that root were ``/``.
"""

from __future__ import annotations

import glob
import os
import posixpath
import shutil
import stat
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from berth.errors import InvalidArgument

__all__ = ["Owner", "copy_sources", "find_sources", "is_archive", "lookup_owner", "scoped_path"]

_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int


def scoped_path(root: Path, path: str) -> Path:
    """``root``/``path`` with symlinks resolved as if ``root`` were ``/``; never outside it."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if candidate.is_symlink():
            hops += 1
            if hops > 255:
                raise InvalidArgument(f"too many levels of symbolic links in {path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


def find_sources(root: Path, patterns: Sequence[str], what: str) -> list[Path]:
    """The source paths ``patterns`` name under ``root`` (globs expanded, sorted)."""
    found: list[Path] = []
    for pattern in patterns:
        clean = posixpath.normpath("/" + pattern).lstrip("/")
        if not clean or clean == ".":
            found.append(root)
            continue
        if _GLOB_CHARS & set(clean):
            matches = sorted(glob.glob(clean, root_dir=root, include_hidden=True))
            found += [scoped_path(root, m) for m in matches]
            if not matches:
                raise InvalidArgument(f"{what} failed: no source files were specified")
            continue
        path = scoped_path(root, clean)
        if not path.exists() and not path.is_symlink():
            raise InvalidArgument(
                f"{what} failed: file not found in build context or excluded by .dockerignore: "
                f"stat {clean}: file does not exist")
        found.append(path)
    return found


def _lookup(file: Path, name: str, field: int) -> int | None:
    try:
        for line in file.read_text(errors="replace").splitlines():
            parts = line.split(":")
            if len(parts) > field and parts[0] == name:
                return int(parts[field])
    except (OSError, ValueError):
        return None
    return None


def lookup_owner(rootfs: Path, spec: str) -> Owner:
    """``--chown=user[:group]`` resolved against the image's /etc/passwd and /etc/group."""
    user, _, group = spec.partition(":")
    if user.isdigit():
        uid = int(user)
        gid_default = uid
    else:
        found = _lookup(rootfs / "etc/passwd", user, 2)
        if found is None:
            raise InvalidArgument(f"unable to convert uid/gid chown string to host mapping: "
                                  f"can't find uid for user {user}: no such user: {user}")
        uid = found
        gid_default = _lookup(rootfs / "etc/passwd", user, 3) or 0
    if not group:
        return Owner(uid, gid_default)
    if group.isdigit():
        return Owner(uid, int(group))
    gid = _lookup(rootfs / "etc/group", group, 2)
    if gid is None:
        raise InvalidArgument(f"unable to convert uid/gid chown string to host mapping: "
                              f"can't find gid for group {group}: no such group: {group}")
    return Owner(uid, gid)


def is_archive(path: Path) -> bool:
    """A local file ADD unpacks: a tar, possibly gzip, bzip2 or xz compressed."""
    if not path.is_file() or path.is_symlink():
        return False
    with path.open("rb") as f:
        head = f.read(512)
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        try:
            with tarfile.open(path, "r:*") as t:
                return t.next() is not None
        except (tarfile.TarError, OSError, EOFError):
            return False
    return len(head) >= 262 and head[257:262] == b"ustar"


def _mkdirs(root: Path, path: str, owner: Owner) -> Path:
    """Create ``path`` (absolute in the image) like ``mkdir -p``; new dirs get ``owner``."""
    current = ""
    for part in [p for p in path.split("/") if p]:
        current += "/" + part
        target = scoped_path(root, current)
        if not target.exists():
            target.mkdir(mode=0o755)
            os.chmod(target, 0o755)
            os.lchown(target, owner.uid, owner.gid)
        elif not target.is_dir():
            raise InvalidArgument(f"cannot copy to non-directory: {current}")
    return scoped_path(root, path)


def _copy_entry(src: Path, dst: Path, owner: Owner, chmod: int | None) -> None:
    st = os.lstat(src)
    if dst.is_dir() and not dst.is_symlink() and not stat.S_ISDIR(st.st_mode):
        shutil.rmtree(dst)
    elif (dst.exists() or dst.is_symlink()) and not (stat.S_ISDIR(st.st_mode) and dst.is_dir()):
        dst.unlink()
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISDIR(st.st_mode):
        if not dst.is_dir():
            dst.mkdir()
        for child in sorted(os.listdir(src)):
            _copy_entry(src / child, dst / child, owner, chmod)
        os.chmod(dst, chmod if chmod is not None else stat.S_IMODE(st.st_mode))
    elif stat.S_ISREG(st.st_mode):
        shutil.copyfile(src, dst)
        os.chmod(dst, chmod if chmod is not None else stat.S_IMODE(st.st_mode))
    else:
        return  # devices, fifos and sockets are not copied
    os.lchown(dst, owner.uid, owner.gid)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _extract(archive: Path, dest: Path, owner: Owner | None) -> None:
    def keep(member: tarfile.TarInfo, where: str) -> tarfile.TarInfo | None:
        if member.isdev():
            return None
        info = tarfile.data_filter(member, where)
        if info is None:
            return None
        uid, gid = (owner.uid, owner.gid) if owner else (member.uid, member.gid)
        return info.replace(mode=member.mode & 0o7777, uid=uid, gid=gid, deep=False)

    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(dest, numeric_owner=True, filter=keep)
    except (tarfile.TarError, OSError) as e:
        raise InvalidArgument(f"failed to extract {archive.name}: {e}") from e


def copy_sources(sources: Sequence[Path], dest: str, rootfs: Path, workdir: str, *,
                 owner: Owner | None, chmod: int | None, unpack_archives: frozenset[Path],
                 what: str, names: Sequence[str] | None = None) -> None:
    """Place ``sources`` at ``dest`` inside ``rootfs`` following Docker's COPY/ADD rules.

    ``names`` overrides the base name of each source (for downloaded URLs); only files in
    ``unpack_archives`` are unpacked when they are tar archives (ADD of a local file).
    """
    dest_abs = dest if dest.startswith("/") else posixpath.join(workdir or "/", dest)
    dir_dest = dest.endswith("/") or dest in (".", "..") or dest.endswith("/.")
    if len(sources) > 1 and not dir_dest:
        raise InvalidArgument(f"When using {what} with more than one source file, the destination "
                              "must be a directory and end with a /")
    who = owner or Owner(0, 0)
    dest_abs = posixpath.normpath(dest_abs)
    for i, src in enumerate(sources):
        if src.is_dir() and not src.is_symlink():
            target = _mkdirs(rootfs, dest_abs, who)
            for child in sorted(os.listdir(src)):
                _copy_entry(src / child, target / child, who, chmod)
            continue
        if src in unpack_archives and is_archive(src):
            _extract(src, _mkdirs(rootfs, dest_abs, who), owner)
            continue
        name = names[i] if names else src.name
        existing = scoped_path(rootfs, dest_abs)
        if dir_dest or (existing.is_dir() and dest_abs != "/") or dest_abs == "/":
            parent = _mkdirs(rootfs, dest_abs, who)
            _copy_entry(src, parent / name, who, chmod)
        else:
            parent = _mkdirs(rootfs, posixpath.dirname(dest_abs), who)
            _copy_entry(src, parent / posixpath.basename(dest_abs), who, chmod)
