"""What berthd's start cleans after a crash: writable snapshots no container record owns
(a create whose record never committed, a build step's or an unpack's scratch snapshot), a
record whose snapshot a half-done removal already took (it must still inspect, list and
remove), and ``--rm`` containers that are not running when berthd starts (moby's restore).

Each state is built for real on a stopped berthd's data root, with the store's own code or
sqlite3, then a new berthd is started on it."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from berth.snapshots.overlay import OverlaySnapshotter
from berth.store.metadata import Database
from tests.conftest import Daemon, start_berthd, stop_berthd
from tests.daemon.helpers import boot, eventually, forget_container, inspect

pytestmark = pytest.mark.root


def _snapshots(d: Daemon) -> dict[str, tuple[int, str]]:
    """key -> (row id, kind), read from the database (read-only, the daemon may run)."""
    db = sqlite3.connect(f"file:{d.data_root / 'berth.db'}?mode=ro", uri=True)
    try:
        return {k: (i, kind) for i, k, kind in db.execute("SELECT id, key, kind FROM snapshots")}
    finally:
        db.close()


def _mounted_under(path: Path) -> list[str]:
    text = Path("/proc/self/mountinfo").read_text()
    return [line for line in text.splitlines() if str(path) in line]


def _ids(d: Daemon, *names: str) -> dict[str, str]:
    return {n: inspect(d, n)["Id"] for n in names}


def test_orphan_snapshots_go_and_a_record_without_snapshot_still_works(
        own_daemon: tuple[Path, list[Daemon]]) -> None:
    base, started = own_daemon
    d = boot(base, started)
    for name in ("keep", "orphan", "nosnap"):
        d.docker("create", "--name", name, "busybox", "echo", f"hi-{name}", check=True)
    ids = _ids(d, "keep", "orphan", "nosnap")
    image_id = inspect(d, "busybox")["Id"]
    stop_berthd(d)

    # The crashes, planted: orphan's record never committed (its rootfs and bundle stay);
    # nosnap's removal detached the snapshot and died before deleting the record; a build
    # step's rootfs and an unpack's layer snapshot were left by a berthd that died mid-way.
    forget_container(d, ids["orphan"])
    db_path = d.data_root / "berth.db"
    before = _snapshots(d)
    top = before[f"container/{ids['keep']}"]
    parent_row = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        (parent,) = parent_row.execute("SELECT parent FROM snapshots WHERE id = ?",
                                       (top[0],)).fetchone()
    finally:
        parent_row.close()
    db = Database(db_path)
    try:
        snaps = OverlaySnapshotter(d.data_root / "snapshots", db)
        snaps.prepare("container/build-0123456789abcdef", parent)
        snaps.prepare(f"extract-0123456789ab {parent}-unpacking", parent)
        (snaps.upper_dir("container/build-0123456789abcdef") / "junk").write_bytes(b"x" * 4096)
        snaps.detach(f"container/{ids['nosnap']}")
    finally:
        db.close()
    planted = _snapshots(d)
    doomed = {k: planted[k][0] for k in ("container/build-0123456789abcdef",
                                         f"extract-0123456789ab {parent}-unpacking",
                                         f"container/{ids['orphan']}")}
    assert all((d.data_root / "snapshots" / str(n)).is_dir() for n in doomed.values())
    assert (d.data_root / "containers" / ids["orphan"]).is_dir()

    d = start_berthd(base)
    started.append(d)
    after = _snapshots(d)
    for key, row in doomed.items():
        assert key not in after
        assert not (d.data_root / "snapshots" / str(row)).exists()
        assert not _mounted_under(d.data_root / "snapshots" / str(row))
    # Renamed away at once, deleted by the trash thread while berthd serves.
    eventually(lambda: not [p.name for p in (d.data_root / "snapshots").iterdir()
                            if p.name.startswith((".rm-", ".tmp-"))])
    assert not (d.data_root / "containers" / ids["orphan"]).exists()
    # Everything else is intact: the image and its layers, the other containers.
    assert after[f"container/{ids['keep']}"] == top
    assert parent in after and after[parent][1] == "committed"
    assert inspect(d, "busybox")["Id"] == image_id
    assert d.docker("start", "-a", "keep", check=True).stdout == b"hi-keep\n"
    assert d.docker("run", "--rm", "busybox", "echo", "fresh", check=True).stdout == b"fresh\n"
    names = d.docker("ps", "-a", "--format", "{{.Names}}", check=True).stdout.decode().split()
    assert sorted(names) == ["keep", "nosnap"]
    # The record whose snapshot is gone: inspect, ps with sizes, and rm work.
    assert inspect(d, "nosnap")["Id"] == ids["nosnap"]
    sized = d.docker("ps", "-a", "-s", "--filter", "name=nosnap", "--format", "{{.Size}}",
                     check=True).stdout.decode()
    assert sized.startswith("0B")
    refused = d.docker("start", "nosnap")
    assert refused.returncode != 0 and b"has no root filesystem" in refused.stderr
    assert inspect(d, "nosnap")["State"]["Status"] == "created"
    d.docker("rm", "nosnap", check=True)
    assert d.docker("inspect", "nosnap").returncode != 0
    assert not (d.data_root / "containers" / ids["nosnap"]).exists()
    d.docker("rm", "keep", check=True)


def test_stopped_auto_remove_containers_go_at_start_running_ones_stay(
        own_daemon: tuple[Path, list[Daemon]]) -> None:
    base, started = own_daemon
    d = boot(base, started)
    d.docker("run", "-d", "--rm", "--name", "gone", "-v", "/data", "busybox", "sleep", "1000",
             check=True)
    d.docker("run", "-d", "--rm", "--name", "stays", "busybox", "sh", "-c",
             "until [ -e /go ]; do sleep 0.05; done", check=True)
    d.docker("create", "--rm", "--name", "never", "busybox", "true", check=True)
    d.docker("create", "--name", "plain", "busybox", "true", check=True)
    ids = _ids(d, "gone", "stays", "never", "plain")
    volume = next(m["Name"] for m in inspect(d, "gone")["Mounts"] if m["Destination"] == "/data")
    gone_pid = inspect(d, "gone")["State"]["Pid"]
    stays_pid = inspect(d, "stays")["State"]["Pid"]
    assert d.process is not None
    d.process.send_signal(signal.SIGKILL)
    d.process.wait()
    os.kill(gone_pid, signal.SIGKILL)  # dies while no berthd runs; its shim records the exit
    deadline = time.monotonic() + 20
    while Path(f"/proc/{gone_pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{gone_pid}").exists()

    d = start_berthd(base)
    started.append(d)
    names = d.docker("ps", "-a", "--format", "{{.Names}}", check=True).stdout.decode().split()
    assert sorted(names) == ["plain", "stays"]
    snaps = _snapshots(d)
    for n in ("gone", "never"):
        assert f"container/{ids[n]}" not in snaps
        assert not (d.data_root / "containers" / ids[n]).exists()
        assert not (d.exec_root / "containers" / ids[n]).exists()
    assert volume not in d.docker("volume", "ls", "-q", check=True).stdout.decode().split()
    state = inspect(d, "stays")["State"]
    assert state["Running"] and state["Pid"] == stays_pid
    # The running one is re-adopted and removed when it exits, as without the restart.
    Path(f"/proc/{stays_pid}/root/go").touch()

    def stays_gone() -> bool:
        return d.docker("inspect", "stays").returncode != 0

    eventually(stays_gone)
    assert f"container/{ids['stays']}" not in _snapshots(d)
    assert not (d.data_root / "containers" / ids["stays"]).exists()
    assert f"container/{ids['plain']}" in _snapshots(d)
    d.docker("rm", "plain", check=True)
