"""berth exec / attach / wait / pause / unpause / rename / top / update against the daemon."""

from __future__ import annotations

import json
import time

import pytest
from tests.cli.test_cli_tty import ptycli  # noqa: F401 -- fixture

pytestmark = pytest.mark.root


def _state(daemon, name):
    return json.loads(daemon.berth("inspect", name).stdout)[0]


def test_exec_and_wait(daemon, names):
    name = names.new("exec")
    daemon.berth("run", "-d", "--name", name, "busybox", "sleep", "1000", check=True)
    r = daemon.berth("exec", "-e", "A=1", "-w", "/tmp", "-u", "7:8", name, "sh", "-c",
                     "echo $A $(pwd) $(id -u):$(id -g); echo e >&2; exit 5")
    assert (r.returncode, r.stdout, r.stderr) == (5, b"1 /tmp 7:8\n", b"e\n")
    r = daemon.berth("exec", "-i", name, "cat", input=b"piped\n")
    assert r.stdout == b"piped\n"
    assert daemon.berth("exec", "-d", name, "sleep", "1").returncode == 0
    r = daemon.berth("exec", name, "nosuch")
    assert r.returncode == 126
    daemon.berth("kill", name, check=True)  # PID 1 ignores TERM without a handler
    assert daemon.berth("wait", name, check=True).stdout == b"137\n"


def test_exec_it(daemon, names, ptycli):  # noqa: F811
    name = names.new("execit")
    daemon.berth("run", "-d", "--name", name, "busybox", "sleep", "1000", check=True)
    cli = ptycli("exec", "-it", name, "sh", rows=25, cols=77)
    cli.read_until(b"# ")
    cli.write(b"stty size; exit 3\r")
    assert cli.wait() == 3
    assert b"25 77" in cli.output


def test_pause_rename_top_update(daemon, names):
    name, new = names.new("ctl"), names.new("ctl2")
    daemon.berth("run", "-d", "--name", name, "busybox", "sleep", "1000", check=True)
    assert daemon.berth("pause", name, check=True).stdout == f"{name}\n".encode()
    assert _state(daemon, name)["State"]["Status"] == "paused"
    daemon.berth("unpause", name, check=True)
    assert _state(daemon, name)["State"]["Status"] == "running"
    daemon.berth("rename", name, new, check=True)
    assert _state(daemon, new)["Name"] == f"/{new}"
    top = daemon.berth("top", new, check=True).stdout.decode().splitlines()
    assert top[0].split()[:2] == ["UID", "PID"] and "sleep 1000" in top[1]
    top = daemon.berth("top", new, "-o", "pid,args", check=True).stdout.decode().splitlines()
    assert top[0].split() == ["PID", "COMMAND"]
    daemon.berth("update", "--pids-limit", "17", "-m", "40m", new, check=True)
    hc = _state(daemon, new)["HostConfig"]
    assert (hc["PidsLimit"], hc["Memory"]) == (17, 40 << 20)
    r = daemon.berth("exec", new, "cat", "/sys/fs/cgroup/pids/pids.max", check=True)
    assert r.stdout == b"17\n"
    r = daemon.berth("pause", "no-such-container-x")
    assert r.returncode == 1 and b"No such container" in r.stderr


def test_attach_and_detach(daemon, names, ptycli):  # noqa: F811
    name = names.new("att")
    daemon.berth("run", "-dit", "--name", name, "busybox", "sh", check=True)
    cli = ptycli("attach", name)
    time.sleep(0.3)
    cli.write(b"echo hello-$((3*3))\r")
    cli.read_until(b"hello-9")
    cli.write(b"\x10\x11")
    assert cli.wait() == 0
    assert _state(daemon, name)["State"]["Running"]
