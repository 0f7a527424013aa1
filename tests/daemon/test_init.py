"""--init: berth-init is PID 1, forwards signals to the command, reaps orphans, and passes
the exit status through."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import Daemon
from tests.daemon.helpers import new_name

pytestmark = pytest.mark.root


def test_init_is_pid1_and_passes_exit_code(daemon: Daemon, names: list[str]) -> None:
    r = daemon.docker("run", "--rm", "--init", "busybox", "sh", "-c",
                      "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$; exit 7")
    assert r.returncode == 7
    lines = r.stdout.decode().splitlines()
    assert lines[0].startswith("/sbin/docker-init -- sh -c")
    assert lines[1] != "1"  # the command is not PID 1
    r = daemon.docker("run", "--rm", "busybox", "cat", "/proc/1/cmdline")
    assert r.stdout.startswith(b"cat\0")  # without --init nothing is in front


def test_init_forwards_stop_signal(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "i")
    # sh as PID 1 would ignore SIGTERM; under berth-init it is an ordinary process
    daemon.docker("run", "-d", "--init", "--name", name, "busybox", "sh", "-c",
                  "trap 'echo got-term; exit 3' TERM; while true; do sleep 0.1; done", check=True)
    time.sleep(0.5)
    start = time.monotonic()
    daemon.docker("stop", "-t", "10", name, check=True)
    assert time.monotonic() - start < 5  # did not need the SIGKILL after the timeout
    assert b"got-term" in daemon.docker("logs", name, check=True).stdout
    info = json.loads(daemon.docker("inspect", name, check=True).stdout)[0]
    assert info["State"]["ExitCode"] == 3
    assert info["HostConfig"]["Init"] is True


@pytest.mark.parametrize(("init", "zombies"), [(True, b"0"), (False, b"5")])
def test_init_reaps_orphans(daemon: Daemon, names: list[str], init: bool, zombies: bytes) -> None:
    name = new_name(names, "i")
    # each `sh -c 'sleep 0.1 &'` leaves an orphan that is reparented to PID 1; without --init
    # PID 1 is the final `sleep 1000` (sh execs it), which never reaps them
    daemon.docker("run", "-d", *(["--init"] if init else []), "--name", name, "busybox", "sh",
                  "-c", "for i in 1 2 3 4 5; do sh -c 'sleep 0.1 &'; done; sleep 1000", check=True)
    time.sleep(1.0)
    r = daemon.docker("exec", name, "sh", "-c", "grep -l '^State:.*Z' /proc/[0-9]*/status | wc -l",
                      check=True)
    assert r.stdout.strip() == zombies
