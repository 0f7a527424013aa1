"""rm/rmi answer once the doomed layer is renamed away and delete it in the background
(berth.store.trash): the deletion completes while berthd runs, and what a crash between the
rename and the delete leaves (``snapshots/.rm-*``, ``content/ingest/rm-*``) is gone after
the next start, with the store consistent."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import network_flags, start_berthd, stop_berthd
from tests.daemon.helpers import eventually
from tests.daemon.test_images_crash_import import _rootfs_tar
from tests.daemon.test_images_hostile import _consistent, _docker

pytestmark = pytest.mark.root


def _trash(data_root: Path) -> list[Path]:
    snaps = [p for p in (data_root / "snapshots").iterdir() if p.name.startswith(".rm-")]
    return snaps + list((data_root / "content" / "ingest").iterdir())


def test_rmi_deletes_in_background_and_restart_removes_a_crashs_trash(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs.tar"
    _rootfs_tar(rootfs)
    base = Path(tempfile.mkdtemp(prefix="berth-test-", dir=tmp_path))
    d = start_berthd(base, "trash")
    try:
        assert _docker(d, "import", str(rootfs), "trash:1").returncode == 0
        blobs = set((d.data_root / "content" / "blobs" / "sha256").iterdir())
        r = _docker(d, "rmi", "trash:1")
        assert r.returncode == 0, r.stderr
        deadline = time.monotonic() + 10
        while _trash(d.data_root) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _trash(d.data_root) == []
        assert not blobs & set((d.data_root / "content" / "blobs" / "sha256").iterdir())
        _consistent(d)
        stop_berthd(d)
        # What a crash after the rename and before the delete leaves behind.
        doomed = d.data_root / "snapshots" / ".rm-7-0badf00d"
        (doomed / "fs" / "data").mkdir(parents=True)
        (doomed / "fs" / "data" / "f").write_bytes(os.urandom(1 << 16))
        (d.data_root / "content" / "ingest" / f"rm-{'ab' * 32}-0badf00d").write_bytes(b"x" * 4096)
        d = start_berthd(base, "trash2")
        # Deleted by the trash thread while berthd serves (the start does not wait for it).
        eventually(lambda: _trash(d.data_root) == [])
        _consistent(d)
        assert _docker(d, "import", str(rootfs), "trash:2").returncode == 0
    finally:
        stop_berthd(d)
        from berth.testing.cleanup import cleanup_daemon_leftovers
        from berth.testing.netcleanup import cleanup_network_leftovers

        cleanup_daemon_leftovers(d.data_root, d.exec_root, d.cgroup_parent)
        cleanup_network_leftovers(d.data_root, network_flags(base)[1])


_FIFREEZE = 0xC0045877  # linux/fs.h: _IOWR('X', 119, int)
_FITHAW = 0xC0045878


def test_start_serves_while_the_trash_deletes_what_a_crash_left(tmp_path: Path) -> None:
    """berthd's start does not wait for the deletion of a crash's trash (a large image's
    layers renamed to ``.rm-*`` when berthd died): here that deletion cannot progress at all,
    its files on a frozen file system, and berthd still answers and imports; once the file
    system thaws the trash is deleted and the store is consistent."""
    rootfs = tmp_path / "rootfs.tar"
    _rootfs_tar(rootfs)
    base = Path(tempfile.mkdtemp(prefix="berth-test-", dir=tmp_path))
    d = start_berthd(base, "trash")
    stop_berthd(d)
    doomed = d.data_root / "snapshots" / ".rm-9-0badf00d"
    mnt = doomed / "fs" / "layer"
    mnt.mkdir(parents=True)
    image = tmp_path / "fs.img"
    with open(image, "wb") as f:
        f.truncate(16 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(mnt)], check=True)
    thawed = threading.Event()
    fd = -1

    def thaw() -> None:
        if not thawed.is_set():
            thawed.set()
            fcntl.ioctl(fd, _FITHAW, 0)

    # Should the start wait for the trash (the old behaviour), it would wait for ever:
    # thawed after 20 s all the same, so that berthd can answer and the test fail cleanly.
    safety = threading.Timer(20, thaw)
    try:
        for i in range(64):
            (mnt / f"f{i}").write_bytes(b"x" * 4096)
        fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.ioctl(fd, _FIFREEZE, 0)
        safety.start()
        d = start_berthd(base, "trash2")
        assert not thawed.is_set(), "berthd answered only once the trash could be deleted"
        assert (mnt / "f0").exists()  # the trash thread is stuck on it
        assert _docker(d, "import", str(rootfs), "trash:3").returncode == 0
        thaw()
        eventually(lambda: not any(mnt.iterdir()))  # the trash thread got through
    finally:
        safety.cancel()
        if fd >= 0:
            thaw()
            os.close(fd)
        subprocess.run(["umount", str(mnt)], check=False)
    # The mount point itself could not be removed while mounted: what the kernel kept.
    eventually(lambda: not mnt.is_mount())
    try:
        shutil.rmtree(doomed, ignore_errors=True)
        _consistent(d)
    finally:
        stop_berthd(d)
        from berth.testing.cleanup import cleanup_daemon_leftovers
        from berth.testing.netcleanup import cleanup_network_leftovers

        cleanup_daemon_leftovers(d.data_root, d.exec_root, d.cgroup_parent)
        cleanup_network_leftovers(d.data_root, network_flags(base)[1])
