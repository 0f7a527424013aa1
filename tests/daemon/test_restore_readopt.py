"""berthd's start re-adopts running containers' shims concurrently, and finds a live shim
whose pid file was deleted.

Silent shims (two stopped by SIGSTOP, which are not waited for; one wedged, its socket
taking connections and never answering) no longer hold up the start one after another: all
five containers are listed, the two whose shims answer are served at once, the three others
answer 409 until their shims answer again, then are re-adopted, with fresh health probes.
A shim whose ``shim.pid`` was deleted is found as its init's parent (its stderr is its state
dir's shim.log), at berthd's start and when the monitor loses it: its container is kept and
re-adopted, not killed; a kill -9'd shim without a pid file still has its container ended
(137)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from berth.shim import pidfile
from berth.testing.shimsilence import stopped
from tests.conftest import Daemon, start_berthd, stop_berthd
from tests.daemon.helpers import alive, boot, eventually, inspect, parent_pid
from tests.daemon.shimconn import drop_connections, shim_socket, unreachable, wedged

pytestmark = pytest.mark.root


def _refused(d: Daemon, *args: str) -> bool:
    r = d.docker(*args, timeout=20)
    return r.returncode == 1 and b"its shim does not answer" in r.stderr


def _health(d: Daemon, name: str) -> dict[str, Any]:
    health: dict[str, Any] = inspect(d, name)["State"]["Health"]
    return health


def test_silent_shims_wait_in_the_background_and_the_others_are_served_at_once(
        own_daemon: tuple[Path, list[Daemon]]) -> None:
    base, started = own_daemon
    d = boot(base, started)
    frozen, fine = ("frozen1", "frozen2", "frozen3"), ("fine1", "fine2")
    for name in frozen + fine:
        health = (("--health-cmd", "true", "--health-interval", "300ms") if name == "frozen1"
                  else ())
        d.docker("run", "-d", "--name", name, *health, "busybox", "sleep", "1000", check=True)
    pids = {n: inspect(d, n)["State"]["Pid"] for n in frozen + fine}
    wedged_id = inspect(d, "frozen3")["Id"]
    eventually(lambda: _health(d, "frozen1")["Status"] == "healthy")
    try:
        stop_berthd(d)
        with stopped([parent_pid(pids[n]) for n in frozen[:2]]), \
                wedged(shim_socket(d, wedged_id)):
            d = start_berthd(base)
            started.append(d)
            ps = d.docker("ps", "--format", "{{.Names}}", check=True).stdout.decode().split()
            assert sorted(ps) == sorted(frozen + fine)
            for name in fine:
                assert d.docker("exec", name, "echo", "ok", check=True).stdout == b"ok\n"
                d.docker("stop", "-t", "1", name, check=True)
                assert inspect(d, name)["State"]["ExitCode"] == 137
                assert not alive(pids[name])
            for name in frozen:
                assert _refused(d, "exec", name, "true"), name
                assert _refused(d, "stop", "-t", "1", name), name
                assert inspect(d, name)["State"]["Running"] and alive(pids[name]), name
            # No probe runs while the shim is silent (each would fail on it, not on the
            # container): several intervals pass, and the log is the one before the restart.
            probed = {e["Start"] for e in _health(d, "frozen1")["Log"]}
            time.sleep(1)
            assert {e["Start"] for e in _health(d, "frozen1")["Log"]} == probed
            assert _health(d, "frozen1")["Status"] == "healthy"
        for name in frozen:
            eventually(lambda n=name: d.docker("exec", n, "echo", "back").stdout == b"back\n")
        # Re-adopted from the start's background: its probes run again.
        eventually(lambda: {e["Start"] for e in _health(d, "frozen1")["Log"]} - probed)
        assert _health(d, "frozen1")["Status"] == "healthy"
        for name in frozen:
            d.docker("stop", "-t", "1", name, check=True)
            assert inspect(d, name)["State"]["ExitCode"] == 137
    finally:
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    d.docker("rm", "-f", *frozen, *fine, check=True)


def test_a_live_shim_without_its_pid_file_keeps_its_container(
        own_daemon: tuple[Path, list[Daemon]]) -> None:
    base, started = own_daemon
    d = boot(base, started)
    names = ("hidden", "dies", "dead")
    for name in names:
        d.docker("run", "-d", "--name", name, "busybox", "sleep", "1000", check=True)
    ids = {n: inspect(d, n)["Id"] for n in names}
    pids = {n: inspect(d, n)["State"]["Pid"] for n in names}
    dirs = {n: d.exec_root / "containers" / ids[n] for n in names}
    shims = {n: pidfile.read(dirs[n]) for n in names}
    stop_berthd(d)
    moved = [(dirs[n] / "shim.sock", dirs[n] / "shim.sock.away") for n in ("hidden", "dies")]
    try:
        for name in names:
            (dirs[name] / pidfile.PID_FILE).unlink()
        # Unreachable (its socket moved away): only its process can say it lives.
        for sock, away in moved:
            os.rename(sock, away)
        dead = shims["dead"]
        assert dead is not None
        os.kill(dead.pid, signal.SIGKILL)
        eventually(lambda: parent_pid(pids["dead"]) != dead.pid)
        d = start_berthd(base)
        started.append(d)
        for name in ("hidden", "dies"):
            state = inspect(d, name)["State"]
            assert (state["Running"], state["Pid"]) == (True, pids[name]), (name, state)
            assert _refused(d, "kill", name), name
            assert alive(pids[name]), name
        state = inspect(d, "dead")["State"]
        assert (state["Status"], state["ExitCode"], state["Error"]) == ("exited", 137, ""), state
        assert not alive(pids["dead"])
        # Its death, while berthd waits for it to answer, ends its container at once.
        dies = shims["dies"]
        assert dies is not None
        os.kill(dies.pid, signal.SIGKILL)
        eventually(lambda: not inspect(d, "dies")["State"]["Running"])
        assert inspect(d, "dies")["State"]["ExitCode"] == 137 and not alive(pids["dies"])
        assert inspect(d, "hidden")["State"]["Running"] and alive(pids["hidden"])
        os.rename(*reversed(moved[0]))
        eventually(lambda: d.docker("exec", "hidden", "echo", "back").stdout == b"back\n")
        d.docker("stop", "-t", "1", "hidden", check=True)
        assert inspect(d, "hidden")["State"]["ExitCode"] == 137
        d.docker("start", "dead", check=True)
        assert d.docker("exec", "dead", "echo", "ok", check=True).stdout == b"ok\n"
    finally:
        for sock, away in moved:
            with contextlib.suppress(FileNotFoundError):
                os.rename(away, sock)
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    d.docker("rm", "-f", *names, check=True)


def test_a_lost_connection_to_a_shim_without_its_pid_file_keeps_its_container(daemon: Daemon) -> None:
    """The same second way while berthd runs: the monitor's connection drops, the socket
    refuses, and the pid file is gone; the init's parent says the shim lives."""
    cid = daemon.docker("run", "-d", "busybox", "sleep", "1000", check=True).stdout.decode().strip()
    pid = inspect(daemon, cid)["State"]["Pid"]
    state_dir = daemon.exec_root / "containers" / cid
    try:
        shim = pidfile.read(state_dir)
        assert shim is not None
        (state_dir / pidfile.PID_FILE).unlink()
        with unreachable(shim_socket(daemon, cid), stale=True):
            assert drop_connections(shim.pid) >= 1
            eventually(lambda: b"its shim does not answer since" in daemon.docker("kill", cid).stderr)
            assert inspect(daemon, cid)["State"]["Running"] and alive(pid)
        eventually(lambda: daemon.docker("exec", cid, "echo", "back").stdout == b"back\n")
        daemon.docker("stop", "-t", "1", cid, check=True)
        assert inspect(daemon, cid)["State"]["ExitCode"] == 137 and not alive(pid)
    finally:
        daemon.docker("rm", "-f", cid)
