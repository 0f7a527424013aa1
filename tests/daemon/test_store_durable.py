"""What berthd syncs to disk before it answers: a request that records what the user asked
for (create, tag, volume/network create, rm) answers only after an fdatasync of the metadata
WAL; a start's state change (reconciled at berthd start) answers without one.

Observed on the session daemon with ``strace -f -p`` (attached for one command, then
detached): the syncs counted are those strace timestamped before the CLI returned."""

from __future__ import annotations

import contextlib
import datetime
import re
import shutil
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.daemon.helpers import new_name, ok


@contextlib.contextmanager
def _traced(pid: int, out: Path, calls: str = "fsync,fdatasync") -> Iterator[None]:
    """strace every thread of ``pid`` (and threads it starts) for the block's duration."""
    err = out.with_suffix(".err")
    with open(err, "wb") as errf:
        proc = subprocess.Popen(["strace", "-f", "-tt", "-y", "-e", f"trace={calls}",
                                 "-o", str(out), "-p", str(pid)], stderr=errf)
    try:
        deadline = time.monotonic() + 10
        while b"attached" not in err.read_bytes():
            assert proc.poll() is None and time.monotonic() < deadline, err.read_text()
            time.sleep(0.02)
        time.sleep(0.1)  # every thread of the group, not just the first
        yield
    finally:
        proc.send_signal(signal.SIGINT)  # detaches from the daemon, which runs on untouched
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _calls(daemon: Daemon, tmp_path: Path, run: Callable[[], object],
           calls: str = "fsync,fdatasync") -> list[str]:
    """The traced calls (strace lines, in time order) made while ``run`` ran, up to its return."""
    if daemon.process is None:
        pytest.skip("needs the session's own berthd to trace (BERTH_TEST_HOST is set)")
    trace = tmp_path / f"trace-{uuid.uuid4().hex[:8]}"
    with _traced(daemon.process.pid, trace, calls):
        run()
        answered = datetime.datetime.now().time()
    lines = []
    for line in trace.read_text().splitlines():
        parts = line.split()
        if len(parts) < 3 or "(" not in parts[2] or "resumed>" in line:
            continue
        if datetime.time.fromisoformat(parts[1]) <= answered:
            lines.append(line)
    return sorted(lines, key=lambda line: line.split()[1])


def _wal_sync_lines(daemon: Daemon, tmp_path: Path, run: Callable[[], object]) -> list[str]:
    """The fsync/fdatasync calls of ``berth.db-wal`` made while ``run`` ran, up to its return
    (strace lines: a failure names the thread and time of each)."""
    return [line for line in _calls(daemon, tmp_path, run)
            if "berth.db-wal>" in line and "sync(" in line]


def _wal_syncs(daemon: Daemon, tmp_path: Path, run: Callable[[], object]) -> int:
    """How many fsync/fdatasync of ``berth.db-wal`` happened while ``run`` ran, up to its return."""
    return len(_wal_sync_lines(daemon, tmp_path, run))


def _last_wal_sync(lines: list[str]) -> int:
    return max(i for i, line in enumerate(lines) if "berth.db-wal>" in line and "sync(" in line)


def test_user_requests_are_synced_before_the_answer(daemon: Daemon, names: list[str],
                                                     tmp_path: Path) -> None:
    name = new_name(names, "durable")
    assert _wal_syncs(daemon, tmp_path, lambda: ok(daemon.docker(
        "create", "--name", name, "--network", "none", "busybox", "sleep", "60")))
    tag = f"durable-{uuid.uuid4().hex[:8]}:t"
    try:
        assert _wal_syncs(daemon, tmp_path, lambda: ok(daemon.docker("tag", "busybox", tag)))
    finally:
        daemon.docker("rmi", tag)
    vol = f"durable-{uuid.uuid4().hex[:8]}"
    try:
        assert _wal_syncs(daemon, tmp_path, lambda: ok(daemon.docker("volume", "create", vol)))
    finally:
        daemon.docker("volume", "rm", "-f", vol)
    net = f"durable-{uuid.uuid4().hex[:8]}"
    try:
        assert _wal_syncs(daemon, tmp_path, lambda: ok(daemon.docker("network", "create", net)))
    finally:
        daemon.docker("network", "rm", net)


def test_start_needs_no_sync_and_rm_does(daemon: Daemon, names: list[str], tmp_path: Path) -> None:
    name = new_name(names, "durable")
    if daemon.process is not None:
        # A commit that brings the WAL to 1000 pages checkpoints it, and SQLite syncs the WAL
        # before a checkpoint even at synchronous=NORMAL: late in a long session start's commit
        # could be that one (seen once). Empty the WAL first; the create's commit then starts
        # it again (syncing its header), so start only appends to a short WAL.
        db = sqlite3.connect(daemon.data_root / "berth.db", timeout=30)
        try:
            busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            db.close()
        assert busy == 0
    ok(daemon.docker("create", "--name", name, "--network", "none", "busybox", "sleep", "60"))
    assert _wal_sync_lines(daemon, tmp_path, lambda: ok(daemon.docker("start", name))) == []
    assert _wal_syncs(daemon, tmp_path, lambda: ok(daemon.docker("rm", "-f", name)))
    assert ok(daemon.docker("ps", "-aq", "--filter", f"name=^{name}$")).strip() == ""


def test_a_snapshot_and_a_volume_are_on_disk_before_the_rows_naming_them(
        daemon: Daemon, names: list[str], tmp_path: Path) -> None:
    """The new writable snapshot's directory and its rename into ``snapshots/`` are fsynced
    before the create's durable commit; so are a volume's ``_data`` and ``<name>`` entries
    before ``volume create``'s. Not only through ext4's journal order."""
    snapshots = daemon.data_root / "snapshots"
    name = new_name(names, "durable")
    lines = _calls(daemon, tmp_path, lambda: ok(daemon.docker(
        "create", "--name", name, "--network", "none", "busybox", "true")))
    commit = _last_wal_sync(lines)
    synced = [line for line in lines[:commit] if line.split()[2].startswith("fsync(")]
    assert any(f"<{snapshots}>" in line for line in synced), lines
    assert any(re.search(rf"<{re.escape(str(snapshots))}/[0-9]+>", line) for line in synced), lines
    vol = f"durable-{uuid.uuid4().hex[:8]}"
    volumes = daemon.data_root / "volumes"
    try:
        lines = _calls(daemon, tmp_path, lambda: ok(daemon.docker("volume", "create", vol)))
        synced = [line for line in lines[:_last_wal_sync(lines)] if line.split()[2].startswith("fsync(")]
        assert any(f"<{volumes}/{vol}>" in line for line in synced), lines
        assert any(f"<{volumes}>" in line for line in synced), lines
    finally:
        daemon.docker("volume", "rm", "-f", vol)


def test_a_removed_snapshot_is_renamed_away_only_after_its_row_is_gone(
        daemon: Daemon, names: list[str], tmp_path: Path) -> None:
    """A rename to ``.rm-*`` that reached the disk before a lost commit would leave a row
    naming nothing: the rename follows the durable commit of the row's deletion."""
    name = new_name(names, "durable")
    ok(daemon.docker("create", "--name", name, "--network", "none", "busybox", "true"))
    lines = _calls(daemon, tmp_path, lambda: ok(daemon.docker("rm", name)),
                   "fsync,fdatasync,rename,renameat,renameat2")
    renamed = [i for i, line in enumerate(lines) if "rename" in line and "/.rm-" in line]
    assert renamed, lines
    wal = [i for i, line in enumerate(lines) if "berth.db-wal>" in line and "sync(" in line]
    assert wal and wal[0] < renamed[0], lines


def test_start_rewrites_a_bundle_a_power_cut_lost(daemon: Daemon, names: list[str]) -> None:
    """Nothing syncs a container's bundle: every start rewrites it from the record, so a
    bundle that is gone (a power cut before its directory reached the disk) starts fine."""
    if daemon.process is None:
        pytest.skip("needs the session's own berthd's data root (BERTH_TEST_HOST is set)")
    for network in ("default", "none"):
        name = new_name(names, "bundle")
        ok(daemon.docker("create", "--name", name, "--network", network, "--hostname", "h1",
                         "busybox", "sh", "-c", "hostname; cat /etc/hostname"))
        cid = ok(daemon.docker("inspect", "-f", "{{.Id}}", name)).strip()
        shutil.rmtree(daemon.data_root / "containers" / cid)
        assert ok(daemon.docker("start", "-a", name)) == "h1\nh1\n"
        ok(daemon.docker("rm", name))
