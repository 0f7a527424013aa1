"""Helpers to build layer tars in tests."""

from __future__ import annotations

import io
import tarfile


def make_tar(*entries: tuple[str, str, bytes | str], compression: str = "") -> bytes:
    """entries: (type, name, data-or-linkname); type in file/dir/sym/link/chr."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=f"w:{compression}" if compression else "w") as tar:
        for kind, name, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if kind == "file":
                raw = data if isinstance(data, bytes) else data.encode()
                info.size = len(raw)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(raw))
                continue
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
            elif kind == "sym":
                info.type = tarfile.SYMTYPE
                info.linkname = str(data)
            elif kind == "link":
                info.type = tarfile.LNKTYPE
                info.linkname = str(data)
            elif kind == "chr":
                info.type = tarfile.CHRTYPE
                info.devmajor, info.devminor = 1, 3
                info.mode = 0o666
            tar.addfile(info)
    return buf.getvalue()
