"""A shim that lives but cannot be reached (its socket file unlinked, or replaced by one
nobody listens on) keeps its container: berthd finds its process alive (pid file, start
time), keeps the container running and shown as such, refuses what needs the shim with 409,
and re-adopts it once its socket answers again; only a shim whose process is gone has its
container ended (exit 137). Both at berthd's start and when the monitor's connection drops
while berthd runs. Before, any connect error but a timeout, and any dropped connection,
counted as a dead shim: the healthy container was killed."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from berth.shim import pidfile
from tests.conftest import Daemon, start_berthd, stop_berthd
from tests.daemon.helpers import alive, boot, eventually, inspect
from tests.daemon.shimconn import drop_connections, shim_socket, unreachable

pytestmark = pytest.mark.root

def _shim_pid(d: Daemon, cid: str) -> int:
    shim = pidfile.read(d.exec_root / "containers" / cid)
    assert shim is not None and shim.alive()
    return shim.pid


def _assert_kept(d: Daemon, name: str, pid: int) -> None:
    """Running, shown, its process alive, and what needs its shim refused with 409."""
    assert alive(pid), name
    state = inspect(d, name)["State"]
    assert (state["Status"], state["Running"], state["Pid"]) == ("running", True, pid), state
    assert name in d.docker("ps", "--format", "{{.Names}}", check=True).stdout.decode().split()
    for args in (("stop", "-t", "1", name), ("kill", name), ("exec", name, "true"), ("rm", "-f", name)):
        r = d.docker(*args, timeout=20)
        assert r.returncode == 1 and b"its shim does not answer" in r.stderr, (args, r.stderr)
    assert alive(pid), name


def _assert_ended(d: Daemon, name: str, pid: int) -> None:
    eventually(lambda: not inspect(d, name)["State"]["Running"])
    assert not alive(pid)
    state = inspect(d, name)["State"]
    assert (state["Status"], state["ExitCode"], state["Error"]) == ("exited", 137, ""), state


def test_an_unreachable_live_shim_keeps_its_container_across_berthd_restart(
        own_daemon: tuple[Path, list[Daemon]]) -> None:
    base, started = own_daemon
    d = boot(base, started)
    names = ("unlinked", "refused", "doomed")
    for name in names:
        d.docker("run", "-d", "--name", name, "busybox", "sleep", "1000", check=True)
    ids = {n: inspect(d, n)["Id"] for n in names}
    pids = {n: inspect(d, n)["State"]["Pid"] for n in names}
    shims = {n: _shim_pid(d, ids[n]) for n in names}
    stop_berthd(d)
    try:
        with contextlib.ExitStack() as hidden:
            for name in names:
                hidden.enter_context(unreachable(shim_socket(d, ids[name]), stale=name == "refused"))
            d = start_berthd(base)  # the old start killed all three
            started.append(d)
            for name in names:
                _assert_kept(d, name, pids[name])
            # A shim that dies meanwhile takes its container with it, as any dead shim's.
            os.kill(shims["doomed"], signal.SIGKILL)
            _assert_ended(d, "doomed", pids["doomed"])
            _assert_kept(d, "unlinked", pids["unlinked"])
        # Re-adopted once their sockets answer: exec and stop go through the shim again.
        for name in ("unlinked", "refused"):
            eventually(lambda n=name: d.docker("exec", n, "echo", "back").stdout == b"back\n")
            d.docker("stop", "-t", "1", name, check=True)
            assert inspect(d, name)["State"]["ExitCode"] == 137
            assert not alive(pids[name])
        d.docker("start", "doomed", check=True)
        assert inspect(d, "doomed")["State"]["Running"]
    finally:
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    d.docker("rm", "-f", *names, check=True)


def test_a_dropped_monitor_connection_to_a_live_shim_keeps_its_container(
        own_daemon: tuple[Path, list[Daemon]]) -> None:
    base, started = own_daemon
    d = boot(base, started)
    d.docker("run", "-d", "--name", "cut", "--health-cmd", "true", "--health-interval", "300ms",
             "--health-retries", "1", "busybox", "sleep", "1000", check=True)
    cid, pid = inspect(d, "cut")["Id"], inspect(d, "cut")["State"]["Pid"]

    def health() -> dict[str, Any]:
        result: dict[str, Any] = inspect(d, "cut")["State"]["Health"]
        return result

    try:
        eventually(lambda: health()["Status"] == "healthy")
        with unreachable(shim_socket(d, cid), stale=True):
            assert drop_connections(_shim_pid(d, cid)) >= 1
            eventually(lambda: b"its shim does not answer since" in d.docker("kill", "cut").stderr)
            _assert_kept(d, "cut", pid)
            # Probes pause while the shim cannot be reached (failing on it, each would count
            # against the container): several intervals pass, and it is still healthy.
            time.sleep(1.5)
            assert health()["Status"] == "healthy", health()
            assert all(e["ExitCode"] == 0 for e in health()["Log"]), health()
        eventually(lambda: d.docker("exec", "cut", "echo", "back").stdout == b"back\n")
        eventually(lambda: health()["Status"] == "healthy" and health()["Log"])
        # The shim dies while berthd cannot reach it: the container is ended then.
        with unreachable(shim_socket(d, cid), stale=False):
            shim = _shim_pid(d, cid)
            assert drop_connections(shim) >= 1
            eventually(lambda: b"its shim does not answer" in d.docker("kill", "cut").stderr)
            assert alive(pid)
            os.kill(shim, signal.SIGKILL)
            _assert_ended(d, "cut", pid)
        d.docker("start", "cut", check=True)
        assert d.docker("exec", "cut", "echo", "ok", check=True).stdout == b"ok\n"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    d.docker("rm", "-f", "cut", check=True)


def test_a_container_that_exits_while_its_shim_is_unreachable_keeps_its_status(
        own_daemon: tuple[Path, list[Daemon]]) -> None:
    """Its shim records the exit and leaves as always; berthd, unable to reach it, learns of
    its end through its pidfd and takes the status from the exit file, not 137."""
    base, started = own_daemon
    d = boot(base, started)
    d.docker("run", "-d", "--name", "brief", "busybox", "sh", "-c", "sleep 4; exit 3",
             check=True)
    cid, pid = inspect(d, "brief")["Id"], inspect(d, "brief")["State"]["Pid"]
    try:
        with unreachable(shim_socket(d, cid), stale=False):
            assert drop_connections(_shim_pid(d, cid)) >= 1
            eventually(lambda: b"its shim does not answer" in d.docker("kill", "brief").stderr)
            eventually(lambda: not inspect(d, "brief")["State"]["Running"])
        state = inspect(d, "brief")["State"]
        assert (state["Status"], state["ExitCode"], state["Error"]) == ("exited", 3, ""), state
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    d.docker("rm", "-f", "brief", check=True)
