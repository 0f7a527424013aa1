"""Build small root filesystems from the host's static busybox.

Used by tests (runtime bundles) and by the base-image bootstrap (``busybox:latest``).
The host must have busybox-static installed (the Makefile installs it).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

__all__ = ["BUSYBOX", "busybox_applets", "busybox_rootfs_tar", "make_busybox_rootfs"]

BUSYBOX = Path("/bin/busybox")

_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
_GROUP = "root:x:0:\nnobody:x:65534:\n"
_DIRS = ("bin", "dev", "etc", "proc", "sys", "tmp", "root", "var", "usr/bin", "usr/sbin", "sbin")


def busybox_applets(busybox: Path = BUSYBOX) -> list[str]:
    out = subprocess.run([str(busybox), "--list"], check=True, capture_output=True, text=True)
    return sorted(a for a in out.stdout.split() if a and "/" not in a and a != "busybox")


def make_busybox_rootfs(target: Path, busybox: Path = BUSYBOX) -> Path:
    """Write a busybox rootfs into ``target`` (created if missing) and return it."""
    for d in _DIRS:
        (target / d).mkdir(parents=True, exist_ok=True)
    os.chmod(target / "tmp", 0o1777)
    shutil.copy2(busybox, target / "bin" / "busybox")
    for applet in busybox_applets(busybox):
        link = target / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    (target / "etc" / "passwd").write_text(_PASSWD)
    (target / "etc" / "group").write_text(_GROUP)
    return target


def busybox_rootfs_tar(busybox: Path = BUSYBOX) -> bytes:
    """The same rootfs as an uncompressed tar, built in memory with fixed owners and times."""
    buf = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add_dir(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = mode
            info.mtime = now
            tar.addfile(info)

        for d in _DIRS:
            parts = d.split("/")
            for i in range(1, len(parts) + 1):
                sub = "/".join(parts[:i])
                if sub not in tar.getnames():
                    add_dir(sub, 0o1777 if sub == "tmp" else 0o755)
        data = busybox.read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size = len(data)
        info.mode = 0o755
        info.mtime = now
        tar.addfile(info, io.BytesIO(data))
        for applet in busybox_applets(busybox):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            link.mtime = now
            tar.addfile(link)
        for name, text in (("etc/passwd", _PASSWD), ("etc/group", _GROUP)):
            raw = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            info.mode = 0o644
            info.mtime = now
            tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()
