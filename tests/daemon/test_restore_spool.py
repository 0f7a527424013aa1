"""What a killed berthd left in its spool directory (``<data-root>/tmp``) is gone after the
next start (berth.daemon.spoolsweep): request bodies, a build's context and work dirs, and the
mount ``docker cp`` had put a stopped container's rootfs on, which is detached, never
deleted through. Planted as a kill -9 leaves them, while berthd is down."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pytest

from berth.testing.cleanup import mounts_under
from tests.conftest import Daemon, start_berthd, stop_berthd

pytestmark = pytest.mark.root


def test_start_empties_the_spool_and_detaches_a_cp_mount(
        own_daemon: tuple[Path, list[Daemon]], tmp_path: Path) -> None:
    base, started = own_daemon
    d = start_berthd(base)
    started.append(d)
    stop_berthd(d)
    tmp = d.data_root / "tmp"
    # A container's files, mounted where cp mounts a stopped container's rootfs.
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "precious").write_text("keep me\n")
    cp_mount = tmp / f"rootfs-{'c' * 12}-x1y2z3"
    cp_mount.mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(rootfs), str(cp_mount)], check=True)
    try:
        build = tmp / "build"
        (build / "build-a1b2c3" / "context").mkdir(parents=True)
        (build / "build-a1b2c3" / "context" / "Dockerfile").write_text("FROM busybox\n")
        (build / "context-d4e5f6").write_bytes(b"tar" * 1000)
        (build / "mnt-g7h8i9").mkdir()
        (tmp / "upload-j1k2l3").write_bytes(b"body")
        (tmp / "load-m4n5o6" / "blobs").mkdir(parents=True)

        d = start_berthd(base)
        started.append(d)
        assert mounts_under(tmp) == []
        assert sorted(p.name for p in tmp.iterdir()) == ["build"]
        assert list(build.iterdir()) == []
        assert (rootfs / "etc" / "precious").read_text() == "keep me\n"  # not deleted through
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            if cp_mount.is_mount():
                subprocess.run(["umount", str(cp_mount)], check=True)
