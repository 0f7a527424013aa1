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
from typing import BinaryIO

__all__ = ["layer_bytes", "write_layer"]

_KEPT_XATTRS = ("security.capability",)


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


def write_layer(upper: Path, out: BinaryIO) -> int:
    """Write ``upper`` as an uncompressed layer tar to ``out``; returns the entry count.

    Entries are sorted by path so the same directory gives the same bytes.
    """
    count = 0
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(upper):
            dirnames.sort()
            here = Path(dirpath)
            rel_dir = here.relative_to(upper)
            for name in sorted(dirnames + filenames):
                path = here / name
                rel = (rel_dir / name).as_posix()
                st = os.lstat(path)
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0):
                    tar.addfile(_empty((rel_dir / f".wh.{name}").as_posix(), st.st_mtime))
                    count += 1
                    continue
                info = tar.gettarinfo(str(path), arcname=rel)
                info.uname = info.gname = ""
                pax = dict(info.pax_headers)
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
                        tar.addfile(info)
                    else:
                        links[key] = rel
                        with path.open("rb") as f:
                            tar.addfile(info, f)
                else:
                    tar.addfile(info)
                count += 1
                if stat.S_ISDIR(st.st_mode) and _opaque(path):
                    tar.addfile(_empty(f"{rel}/.wh..wh..opq", st.st_mtime))
                    count += 1
    return count


def layer_bytes(upper: Path) -> bytes:
    """The layer tar of ``upper`` in memory (small layers and tests)."""
    buf = io.BytesIO()
    write_layer(upper, buf)
    return buf.getvalue()

