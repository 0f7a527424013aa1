"""Restart policies with Docker's back-off and RestartCount; manual stop is respected;
``always`` / ``unless-stopped`` containers come back when berthd starts."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from berth.shim.exitfile import EXIT_FILE
from tests.conftest import Daemon, start_berthd
from tests.daemon.helpers import boot, eventually, new_name

pytestmark = pytest.mark.root


def _state(d: Daemon, name: str) -> tuple[str, int, int]:
    info = json.loads(d.docker("inspect", name, check=True).stdout)[0]
    return info["State"]["Status"], info["RestartCount"], info["State"]["ExitCode"]


def test_on_failure_with_limit(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "rp")
    daemon.docker("run", "-d", "--name", name, "--restart", "on-failure:2", "busybox", "sh", "-c",
                  "echo run; exit 3", check=True)
    eventually(lambda: _state(daemon, name) == ("exited", 2, 3))
    time.sleep(1.0)  # and no third restart
    assert _state(daemon, name) == ("exited", 2, 3)
    assert daemon.docker("logs", name, check=True).stdout == b"run\n" * 3


def test_on_failure_does_not_restart_a_success(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "rp")
    daemon.docker("run", "--name", name, "--restart", "on-failure", "busybox", "true", check=True)
    time.sleep(0.5)
    assert _state(daemon, name) == ("exited", 0, 0)


def test_no_policy_never_restarts(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "rp")
    daemon.docker("run", "--name", name, "busybox", "sh", "-c", "exit 1")
    time.sleep(0.5)
    assert _state(daemon, name) == ("exited", 0, 1)


def test_always_backs_off_and_manual_stop_wins(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "rp")
    daemon.docker("run", "-d", "--name", name, "--restart", "always", "busybox", "sh", "-c",
                  "exit 1", check=True)
    time.sleep(2.5)
    count = _state(daemon, name)[1]
    # delays of 0.1, 0.2, 0.4, 0.8, 1.6 s: a handful of restarts, not dozens
    assert 2 <= count <= 7, count
    ps = daemon.docker("ps", "--filter", f"name={name}", "--format", "{{.Status}}",
                       check=True).stdout.decode()
    assert ps.startswith(("Restarting (1)", "Up ")), ps
    daemon.docker("stop", "-t", "1", name, check=True)
    status, count, _ = _state(daemon, name)
    assert status == "exited"
    time.sleep(1.0)
    assert _state(daemon, name)[:2] == ("exited", count)
    # a manual start resets the count (moby) and the policy applies again
    daemon.docker("start", name, check=True)
    eventually(lambda: _state(daemon, name)[1] >= 1)


def test_always_running_container_restarts_after_its_process_dies(daemon: Daemon,
                                                                  names: list[str]) -> None:
    name = new_name(names, "rp")
    daemon.docker("run", "-d", "--name", name, "--restart", "always", "busybox", "sleep", "1000",
                  check=True)
    pid1 = json.loads(daemon.docker("inspect", name, check=True).stdout)[0]["State"]["Pid"]
    import os
    import signal

    os.kill(pid1, signal.SIGKILL)  # from the host: not a manual stop through the API
    eventually(lambda: _state(daemon, name)[:2] == ("running", 1))
    pid2 = json.loads(daemon.docker("inspect", name, check=True).stdout)[0]["State"]["Pid"]
    assert pid2 != pid1
    r = daemon.docker("rm", name)
    assert r.returncode != 0  # running: needs force
    daemon.docker("rm", "-f", name, check=True)
    names.remove(name)


def test_policies_on_daemon_start(own_daemon: tuple[Path, list[Daemon]]) -> None:
    base, started = own_daemon
    d = boot(base, started)
    for name, policy in (("al", "always"), ("us", "unless-stopped"), ("al-stopped", "always"),
                         ("us-stopped", "unless-stopped"), ("none", "no")):
        d.docker("run", "-d", "--name", name, "--restart", policy, "busybox", "sleep", "1000",
                 check=True)
    d.docker("stop", "-t", "0", "al-stopped", "us-stopped", "none", check=True)
    # berthd goes away with containers running; their processes die while it is down
    d.process.kill()  # type: ignore[union-attr]
    d.process.wait()  # type: ignore[union-attr]
    killed = []
    for state in (d.exec_root / "containers").iterdir():
        init_pid = state / "init.pid"
        if init_pid.exists():
            os.kill(int(init_pid.read_text()), signal.SIGKILL)
            killed.append(state)
    assert killed
    # until their shims have recorded the exits, as they would with no berthd for a while
    eventually(lambda: all((state / EXIT_FILE).exists() for state in killed))
    d = start_berthd(base)
    started.append(d)
    eventually(lambda: _state(d, "al")[0] == "running" and _state(d, "us")[0] == "running")
    eventually(lambda: _state(d, "al-stopped")[0] == "running")  # always: back even after a stop
    time.sleep(0.5)
    assert _state(d, "us-stopped")[0] == "exited"
    assert _state(d, "none")[0] == "exited"
    # Started by the boot as by a user (moby's restore resets the restart manager): no manual
    # stop on record any more, so its death restarts it, counted from 0.
    assert _state(d, "al-stopped")[1] == 0
    pid = json.loads(d.docker("inspect", "al-stopped", check=True).stdout)[0]["State"]["Pid"]
    os.kill(pid, signal.SIGKILL)
    eventually(lambda: _state(d, "al-stopped")[:2] == ("running", 1))
