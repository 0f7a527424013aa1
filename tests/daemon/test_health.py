"""HEALTHCHECK through --health-* flags: starting -> healthy -> unhealthy, the probe log in
inspect, ps status text, health_status events, --no-healthcheck and probe timeouts."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import Daemon
from tests.daemon.helpers import new_name

pytestmark = pytest.mark.root


def _health(d: Daemon, name: str) -> dict:
    return json.loads(d.docker("inspect", name, check=True).stdout)[0]["State"].get("Health")


def _until_status(d: Daemon, name: str, want: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        h = _health(d, name)
        if h and h["Status"] == want:
            return h
        assert time.monotonic() < deadline, h
        time.sleep(0.1)


def test_starting_healthy_unhealthy(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "h")
    since = str(int(time.time()) - 1)
    daemon.docker("run", "-d", "--name", name, "--health-cmd", "cat /tmp/ok",
                  "--health-interval", "300ms", "--health-retries", "2", "--health-start-period",
                  "10s", "busybox", "sh", "-c",
                  "sleep 1; echo fine > /tmp/ok; sleep 1000", check=True)
    h = _health(daemon, name)
    assert h["Status"] == "starting"
    ps = daemon.docker("ps", "--filter", f"name={name}", "--format", "{{.Status}}", check=True)
    assert b"(health: starting)" in ps.stdout
    h = _until_status(daemon, name, "healthy")
    assert h["FailingStreak"] == 0
    last = h["Log"][-1]
    assert last["ExitCode"] == 0 and last["Output"] == "fine\n"
    ps = daemon.docker("ps", "--filter", f"name={name}", "--format", "{{.Status}}", check=True)
    assert b"(healthy)" in ps.stdout
    daemon.docker("exec", name, "rm", "/tmp/ok", check=True)
    h = _until_status(daemon, name, "unhealthy")
    assert h["FailingStreak"] >= 2
    assert h["Log"][-1]["ExitCode"] == 1 and "No such file" in h["Log"][-1]["Output"]
    assert len(h["Log"]) <= 5
    ev = daemon.docker("events", "--since", since, "--until", str(int(time.time()) + 1),
                       "--filter", f"container={name}", "--filter", "event=health_status",
                       "--format", "{{.Status}}", check=True)
    assert ev.stdout.decode().split("\n")[:2] == ["health_status: healthy",
                                                  "health_status: unhealthy"]


def test_cmd_form_timeout_and_no_healthcheck(daemon: Daemon, names: list[str]) -> None:
    slow = new_name(names, "h")
    daemon.docker("run", "-d", "--name", slow, "--health-cmd", "sleep 5", "--health-interval",
                  "200ms", "--health-timeout", "300ms", "--health-retries", "1", "busybox",
                  "sleep", "1000", check=True)
    h = _until_status(daemon, slow, "unhealthy")
    assert h["Log"][-1]["ExitCode"] == -1 and "timeout" in h["Log"][-1]["Output"]
    none = new_name(names, "h")
    body = {"Image": "busybox", "Cmd": ["sleep", "1000"],
            "Healthcheck": {"Test": ["CMD", "false"], "Interval": 200_000_000}}
    from tests.daemon.apihttp import request

    status, _, out = request(str(daemon.socket), "POST", f"/containers/create?name={none}", body)
    assert status == 201, out
    daemon.docker("start", none, check=True)
    h = _until_status(daemon, none, "unhealthy")
    assert h["FailingStreak"] >= 3  # the default retries
    off = new_name(names, "h")
    daemon.docker("run", "-d", "--name", off, "--no-healthcheck", "busybox", "sleep", "1000",
                  check=True)
    time.sleep(0.3)
    assert _health(daemon, off) is None


def test_start_period_does_not_count_failures(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "h")
    daemon.docker("run", "-d", "--name", name, "--health-cmd", "false", "--health-interval",
                  "200ms", "--health-retries", "1", "--health-start-period", "3s", "busybox",
                  "sleep", "1000", check=True)
    time.sleep(1.2)
    h = _health(daemon, name)
    assert h["Status"] == "starting" and h["FailingStreak"] == 0 and h["Log"]
    _until_status(daemon, name, "unhealthy", timeout=10)
