"""rm/rmi answer once the doomed layer is renamed away and delete it in the background
(berth.store.trash): the deletion completes while berthd runs, and what a crash between the
rename and the delete leaves (``snapshots/.rm-*``, ``content/ingest/rm-*``) is gone after
the next start, with the store consistent."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import network_flags, start_berthd, stop_berthd
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
        assert _trash(d.data_root) == []
        _consistent(d)
        assert _docker(d, "import", str(rootfs), "trash:2").returncode == 0
    finally:
        stop_berthd(d)
        from berth.testing.cleanup import cleanup_daemon_leftovers
        from berth.testing.netcleanup import cleanup_network_leftovers

        cleanup_daemon_leftovers(d.data_root, d.exec_root, d.cgroup_parent)
        cleanup_network_leftovers(d.data_root, network_flags(base)[1])
