"""What a dead shim leaves (its container's runtime state dir and cgroups) is swept at
berthd's next start, and only when no live process uses it (berth.services.deadstate).

The deaths are real: the shim and the container's init are SIGKILLed; a shim killed alone
leaves a live init, whose state and cgroups the sweep must leave (the re-adoption then ends it)."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

import pytest

from berth.testing.cgroups import cgroup_dirs
from tests.conftest import Daemon, start_berthd, stop_berthd
from tests.daemon.helpers import alive, boot, eventually, inspect, parent_pid

pytestmark = pytest.mark.root


def _cgroups(d: Daemon, cid: str) -> list[Path]:
    return cgroup_dirs(f"{d.cgroup_parent}/{cid}")


def test_dead_shims_state_and_cgroups_are_swept_live_ones_kept(
        own_daemon: tuple[Path, list[Daemon]]) -> None:
    base, started = own_daemon
    d = boot(base, started)
    for name in ("dead", "orphaned", "alive"):
        d.docker("run", "-d", "--name", name, "busybox", "sleep", "1000", check=True)
    ids = {n: inspect(d, n)["Id"] for n in ("dead", "orphaned", "alive")}
    pids = {n: inspect(d, n)["State"]["Pid"] for n in ("dead", "orphaned", "alive")}
    runtime = d.exec_root / "runtime"
    # Killed while berthd is down: a running berthd's monitor would end them at once.
    stop_berthd(d)
    # dead: shim and init killed. orphaned: only its shim killed; the init lives on.
    for pid in (parent_pid(pids["dead"]), pids["dead"], parent_pid(pids["orphaned"])):
        os.kill(pid, signal.SIGKILL)
    eventually(lambda: not alive(pids["dead"]))
    # Cgroups the factory made ahead of a create that never came, one empty and one that a
    # process outside any container sits in; a state dir of a create that died before its
    # init, old and fresh.
    # An empty cgroup of a container runc holds state for is runc's business.
    ahead_empty, ahead_busy, runcs = (secrets.token_hex(32) for _ in range(3))
    old_create, new_create = secrets.token_hex(32), secrets.token_hex(32)
    made: list[Path] = []
    squatter: subprocess.Popen[bytes] | None = None
    try:
        (runtime / "runc" / runcs).mkdir(parents=True)
        for cid in (ahead_empty, ahead_busy, runcs):
            for parent in cgroup_dirs(d.cgroup_parent):
                (parent / cid).mkdir()
                made.append(parent / cid)
        squatter = subprocess.Popen(["sleep", "1000"])
        busy = [p for p in _cgroups(d, ahead_busy) if p.parent.parent.name == "pids"]
        assert busy
        (busy[0] / "cgroup.procs").write_text(str(squatter.pid))
        for cid in (old_create, new_create):
            (runtime / cid).mkdir()
        hour_ago = time.time() - 3600
        os.utime(runtime / old_create, (hour_ago, hour_ago))
        assert (runtime / ids["dead"]).is_dir() and _cgroups(d, ids["dead"])

        d = start_berthd(base)
        started.append(d)

        # The dead container's state and cgroups are gone, and it starts again.
        assert not (runtime / ids["dead"]).exists()
        assert _cgroups(d, ids["dead"]) == []
        assert inspect(d, "dead")["State"]["Status"] == "exited"
        d.docker("start", "dead", check=True)
        assert inspect(d, "dead")["State"]["Status"] == "running"
        # The sweep leaves a live init's state and cgroups; the re-adoption then ends the
        # one whose shim is gone (tests/daemon/test_restore_shimless.py) and keeps the other.
        assert alive(pids["alive"])
        assert (runtime / ids["alive"] / "state.json").is_file()
        assert _cgroups(d, ids["alive"])
        assert inspect(d, "alive")["State"]["Status"] == "running"
        eventually(lambda: not alive(pids["orphaned"]))
        assert inspect(d, "orphaned")["State"]["ExitCode"] == 137
        assert not (runtime / ids["orphaned"]).exists()
        # Empty cgroups named by an ID go; a busy one stays (whole) with its process alive.
        assert _cgroups(d, ahead_empty) == []
        assert len(_cgroups(d, ahead_busy)) == len(cgroup_dirs(d.cgroup_parent))
        assert len(_cgroups(d, runcs)) == len(cgroup_dirs(d.cgroup_parent))
        assert squatter.poll() is None
        assert not (runtime / old_create).exists()
        assert (runtime / new_create).is_dir()
    finally:
        if squatter is not None:
            squatter.kill()
            squatter.wait()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pids["orphaned"], signal.SIGKILL)  # no shim reaps it; init does
        eventually(lambda: not alive(pids["orphaned"]))
        for p in made:
            with contextlib.suppress(OSError):
                p.rmdir()
        for path in (runtime / old_create, runtime / new_create, runtime / "runc" / runcs):
            with contextlib.suppress(OSError):
                path.rmdir()
        d.docker("rm", "-f", "dead", "orphaned", "alive")


def test_a_runc_container_whose_shim_died_is_deleted_through_runc(
        own_daemon: tuple[Path, list[Daemon]]) -> None:
    """Under ``--runtime runc`` the dead container goes through runc's own state and delete,
    and the rootfs its shim mounted on the bundle is unmounted: it starts again (runc
    refused: 'container with given ID already exists', and the mount leaked)."""
    base, started = own_daemon
    d = boot(base, started)
    d.docker("run", "-d", "--runtime", "runc", "--name", "deadrunc", "busybox", "sleep", "1000",
             check=True)
    cid = inspect(d, "deadrunc")["Id"]
    pid = inspect(d, "deadrunc")["State"]["Pid"]
    rootfs = d.data_root / "containers" / cid / "rootfs"
    assert rootfs.is_mount()
    stop_berthd(d)  # killed while berthd is down, so that its start sweeps them
    for victim in (parent_pid(pid), pid):
        os.kill(victim, signal.SIGKILL)
    eventually(lambda: not alive(pid))
    d = start_berthd(base)
    started.append(d)
    assert not (d.exec_root / "runtime" / "runc" / cid).exists()
    assert not rootfs.is_mount()
    assert _cgroups(d, cid) == []
    d.docker("start", "deadrunc", check=True)
    assert inspect(d, "deadrunc")["State"]["Status"] == "running"
    d.docker("rm", "-f", "deadrunc", check=True)
