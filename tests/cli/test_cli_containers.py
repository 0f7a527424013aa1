"""Detached containers through ps / logs / stop / kill / restart / rm / inspect."""

from __future__ import annotations

import json
import re
import time

import pytest

pytestmark = pytest.mark.root


def _wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_detached_lifecycle(daemon, names):
    name = names.new("life")
    r = daemon.berth("run", "-d", "--name", name, "busybox", "sh", "-c",
                     "echo out; echo err >&2; trap 'exit 0' TERM; while true; do sleep 0.1; done")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip().decode()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)

    ps = daemon.berth("ps").stdout.decode().splitlines()
    assert ps[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS",
                             "NAMES"]
    line = next(row for row in ps if row.endswith(name))
    assert line.startswith(cid[:12] + "   busybox   \"sh -c 'echo out; ec…\"")
    assert re.search(r"\s(Less than a second|\d+ seconds?) ago\s+Up ", line)
    assert daemon.berth("ps", "-q", "--no-trunc", "-f", f"name={name}").stdout.decode() == \
        cid + "\n"
    assert daemon.berth("ps", "--format", "{{.ID}} {{.Names}}", "-f", f"id={cid}").stdout == \
        f"{cid[:12]} {name}\n".encode()

    assert _wait_for(lambda: b"err" in daemon.berth("logs", name).stderr)
    logs = daemon.berth("logs", name)
    assert (logs.returncode, logs.stdout, logs.stderr) == (0, b"out\n", b"err\n")
    stamped = daemon.berth("logs", "-t", "--tail", "1", name)
    # out and err are written at nearly the same instant: either may be the last line.
    assert re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z (out|err)\n",
                        stamped.stdout + stamped.stderr)

    r = daemon.berth("rm", name)
    assert r.returncode == 1
    assert r.stderr.startswith(b"Error response from daemon: ")

    r = daemon.berth("stop", "-t", "5", name)
    assert (r.returncode, r.stdout) == (0, f"{name}\n".encode())
    insp = json.loads(daemon.berth("inspect", name).stdout)
    assert insp[0]["State"]["Status"] == "exited" and insp[0]["State"]["ExitCode"] == 0
    status = daemon.berth("ps", "-a", "--format", "{{.Status}}", "-f", f"name={name}").stdout
    assert status.startswith(b"Exited (0) ")
    assert daemon.berth("stop", name).returncode == 0  # already stopped: 304 is success

    assert daemon.berth("rm", name).stdout == f"{name}\n".encode()
    r = daemon.berth("rm", name)
    assert r.returncode == 1 and b"No such container" in r.stderr


def test_kill_restart_and_force_rm(daemon, names):
    a, b = names.new("ka"), names.new("kb")
    for n in (a, b):
        assert daemon.berth("run", "-d", "--name", n, "busybox", "sleep", "1000").returncode == 0
    assert daemon.berth("kill", "-s", "KILL", a).stdout == f"{a}\n".encode()
    code = daemon.berth("inspect", "-f", "{{.State.ExitCode}}", a).stdout
    assert code == b"137\n"
    r = daemon.berth("kill", a)
    assert r.returncode == 1 and b"is not running" in r.stderr
    assert daemon.berth("restart", "-t", "1", a).returncode == 0
    assert daemon.berth("inspect", "-f", "{{.State.Running}}", a).stdout == b"true\n"
    r = daemon.berth("rm", "-f", a, b)
    assert r.returncode == 0
    assert sorted(r.stdout.decode().split()) == sorted([a, b])
    assert daemon.berth("ps", "-aq", "-f", f"name={a}").stdout == b""


def test_ps_last_latest_and_all(daemon, names):
    first, second = names.new("p1"), names.new("p2")
    assert daemon.berth("create", "--name", first, "busybox", "true").returncode == 0
    assert daemon.berth("create", "--name", second, "busybox", "true").returncode == 0
    assert daemon.berth("ps", "-l", "--format", "{{.Names}}").stdout == f"{second}\n".encode()
    assert daemon.berth("ps", "-n", "2", "--format", "{{.Names}}").stdout == \
        f"{second}\n{first}\n".encode()
    running = daemon.berth("ps", "--format", "{{.Names}}").stdout.decode().split()
    assert first not in running
    rows = [json.loads(x) for x in daemon.berth("ps", "-a", "--format", "json").stdout.splitlines()]
    mine = [row for row in rows if row["Names"] == first]
    assert mine and mine[0]["State"] == "created" and mine[0]["Command"] == '"true"'


def test_inspect_formats_and_missing_objects(daemon, names):
    name = names.new("insp")
    assert daemon.berth("create", "--name", name, "-e", "K=V", "busybox", "echo", "x").returncode == 0
    r = daemon.berth("inspect", "-f", "{{.State.Status}}|{{json .Config.Cmd}}|{{.Name}}", name)
    assert r.stdout == f'created|["echo","x"]|/{name}\n'.encode()
    r = daemon.berth("inspect", "-f", "{{range .Config.Env}}{{.}};{{end}}", name)
    assert b"K=V;" in r.stdout
    raw = daemon.berth("inspect", name).stdout.decode()
    assert raw.startswith("[\n    {\n        \"Id\": ")
    image = daemon.berth("inspect", "-f", "{{.Id}}", "busybox").stdout.decode().strip()
    assert image.startswith("sha256:")
    r = daemon.berth("inspect", "nothing-here-xyz")
    assert (r.returncode, r.stderr, r.stdout) == (1, b"Error: No such object: nothing-here-xyz\n",
                                                 b"[]\n")
    r = daemon.berth("inspect", "-f", "{{.Id}}", name, "nothing-here-xyz")
    assert r.returncode == 1 and r.stdout.startswith(b"")
    assert b"No such object" in r.stderr


def test_logs_follow_ends_when_the_container_stops(daemon, names):
    name = names.new("follow")
    r = daemon.berth("run", "-d", "--name", name, "busybox", "sh", "-c",
                     "echo a; sleep 1; echo b")
    assert r.returncode == 0, r.stderr
    r = daemon.berth("logs", "-f", name, timeout=30)
    assert (r.returncode, r.stdout) == (0, b"a\nb\n")


def test_group_aliases(daemon, names):
    name = names.new("alias")
    assert daemon.berth("container", "create", "--name", name, "busybox", "true").returncode == 0
    assert name.encode() in daemon.berth("container", "ls", "-a").stdout
    r = daemon.berth("image", "inspect", name)
    assert r.returncode == 1 and b"No such image" in r.stderr
    assert daemon.berth("container", "inspect", "-f", "{{.Name}}", name).stdout == \
        f"/{name}\n".encode()
    assert daemon.berth("image", "inspect", "-f", "{{.Os}}", "busybox").stdout == b"linux\n"
