"""``run --rm`` is answered "removed" only once the runtime has deleted the container: its
runtime state and cgroups are gone when the CLI returns, although berthd records the exit
before that delete (the shim answers the wait first, bench/README.md)."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from berth.testing.cgroups import cgroup_dirs
from tests.conftest import Daemon

pytestmark = pytest.mark.root


def test_run_rm_returns_after_the_runtime_delete(daemon: Daemon, tmp_path: Path) -> None:
    if not daemon.cgroup_parent:
        pytest.skip("external daemon: its exec root and cgroup parent are unknown")
    for i in range(3):
        cidfile = tmp_path / f"cid-{i}"
        name = f"rmrelease-{uuid.uuid4().hex[:8]}"
        out = daemon.docker("run", "--rm", "--network", "none", "--name", name, "--cidfile",
                            str(cidfile), "busybox", "sh", "-c", "echo bye; exit 3")
        assert out.returncode == 3
        assert out.stdout == b"bye\n"
        cid = cidfile.read_text().strip()
        assert not (daemon.exec_root / "runtime" / cid).exists()
        assert cgroup_dirs(f"{daemon.cgroup_parent}/{cid}") == []
        assert daemon.docker("inspect", name).returncode != 0


def test_run_rm_snapshot_is_gone_at_the_answer_and_its_files_after(daemon: Daemon, tmp_path: Path) -> None:
    """The answer waits for the snapshot's row (and the rename of its directory out of the
    way), not for the files' deletion, which follows it (bench/README.md)."""
    cidfile = tmp_path / "cid"
    out = daemon.docker("run", "--rm", "--network", "none", "--cidfile", str(cidfile), "busybox",
                        "sh", "-c", "echo data > /written")
    assert out.returncode == 0, out.stderr
    cid = cidfile.read_text().strip()
    db = sqlite3.connect(f"file:{daemon.data_root / 'berth.db'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT id FROM snapshots WHERE key = ?", (f"container/{cid}",)).fetchall()
    finally:
        db.close()
    assert rows == []
    snapshots = daemon.data_root / "snapshots"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        leftovers = [p for p in snapshots.iterdir() if p.name.startswith(".rm-")]
        if not leftovers and not (daemon.data_root / "containers" / cid).exists():
            break
        time.sleep(0.05)
    assert [p.name for p in snapshots.iterdir() if p.name.startswith(".rm-")] == []
    assert not (daemon.data_root / "containers" / cid).exists()
