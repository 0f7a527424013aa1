"""What berthd syncs to disk before it answers: a request that records what the user asked
for (create, tag, volume/network create, rm) answers only after an fdatasync of the metadata
WAL; a start's state change (reconciled at berthd start) answers without one.

Observed on the session daemon with ``strace -f -p`` (attached for one command, then
detached): the syncs counted are those strace timestamped before the CLI returned."""

from __future__ import annotations

import contextlib
import datetime
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.daemon.helpers import new_name, ok


@contextlib.contextmanager
def _traced(pid: int, out: Path) -> Iterator[None]:
    """strace every thread of ``pid`` (and threads it starts) for the block's duration."""
    err = out.with_suffix(".err")
    with open(err, "wb") as errf:
        proc = subprocess.Popen(["strace", "-f", "-tt", "-y", "-e", "trace=fsync,fdatasync",
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


def _wal_syncs(daemon: Daemon, tmp_path: Path, run: Callable[[], object]) -> int:
    """How many fsync/fdatasync of ``berth.db-wal`` happened while ``run`` ran, up to its return."""
    if daemon.process is None:
        pytest.skip("needs the session's own berthd to trace (BERTH_TEST_HOST is set)")
    trace = tmp_path / f"trace-{uuid.uuid4().hex[:8]}"
    with _traced(daemon.process.pid, trace):
        run()
        answered = datetime.datetime.now().time()
    count = 0
    for line in trace.read_text().splitlines():
        parts = line.split()
        if len(parts) < 3 or "berth.db-wal>" not in line or "sync(" not in line:
            continue
        if datetime.time.fromisoformat(parts[1]) <= answered:
            count += 1
    return count


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
    ok(daemon.docker("create", "--name", name, "--network", "none", "busybox", "sleep", "60"))
    assert _wal_syncs(daemon, tmp_path, lambda: ok(daemon.docker("start", name))) == 0
    assert _wal_syncs(daemon, tmp_path, lambda: ok(daemon.docker("rm", "-f", name)))
    assert ok(daemon.docker("ps", "-aq", "--filter", f"name=^{name}$")).strip() == ""
