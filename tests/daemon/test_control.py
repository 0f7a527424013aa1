"""pause/unpause, rename, top, update, kill -s, wait conditions, attach with detach keys —
through the real docker CLI, checked against the kernel (freezer, cgroup files)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.daemon.apihttp import request
from tests.daemon.helpers import eventually, inspect, new_name
from tests.daemon.ptydocker import PtyDocker

pytestmark = pytest.mark.root


def _proc_state(pid: int) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("State:"):
            return line.split()[1]
    return "?"


def test_pause_unpause_freezes_processes(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "c")
    daemon.docker("run", "-d", "--name", name, "busybox", "sh", "-c",
                  "while true; do date +%s%N > /tmp/tick; sleep 0.05; done", check=True)
    info = inspect(daemon, name)
    freezer = Path(f"/sys/fs/cgroup/freezer/{daemon.cgroup_parent}/{info['Id']}/freezer.state")
    tick = Path(f"/proc/{info['State']['Pid']}/root/tmp/tick")
    eventually(lambda: tick.exists() and tick.read_text() != "")
    daemon.docker("pause", name, check=True)
    st = inspect(daemon, name)["State"]
    assert (st["Status"], st["Running"], st["Paused"]) == ("paused", True, True)
    assert freezer.read_text().strip() == "FROZEN"
    before = tick.read_text()
    time.sleep(0.4)
    assert tick.read_text() == before  # nothing ran while frozen
    ps = daemon.docker("ps", "--filter", f"name={name}", "--format", "{{.Status}}", check=True)
    assert ps.stdout.decode().strip().endswith("(Paused)")
    r = daemon.docker("pause", name)
    assert r.returncode != 0 and b"already paused" in r.stderr
    daemon.docker("unpause", name, check=True)
    assert freezer.read_text().strip() == "THAWED"
    eventually(lambda: tick.read_text() not in ("", before))  # it runs again
    r = daemon.docker("unpause", name)
    assert r.returncode != 0 and b"is not paused" in r.stderr


def test_stop_and_kill_of_a_paused_container(daemon: Daemon, names: list[str]) -> None:
    a, b = new_name(names, "c"), new_name(names, "c")
    for n in (a, b):
        daemon.docker("run", "-d", "--name", n, "busybox", "sleep", "1000", check=True)
        daemon.docker("pause", n, check=True)
    daemon.docker("stop", "-t", "1", a, check=True)
    daemon.docker("kill", b, check=True)
    for n in (a, b):
        daemon.docker("wait", n, check=True)
        st = inspect(daemon, n)["State"]
        assert st["Status"] == "exited" and not st["Paused"]


def test_force_remove_of_a_paused_container(daemon: Daemon, names: list[str]) -> None:
    """``rm -f`` of a paused container removes it (its SIGKILL lands once the cgroup thaws)."""
    name = new_name(names, "c")
    daemon.docker("run", "-d", "--name", name, "busybox", "sleep", "1000", check=True)
    info = inspect(daemon, name)
    daemon.docker("pause", name, check=True)
    r = daemon.docker("rm", name)
    assert r.returncode != 0 and b"cannot remove a running container" in r.stderr.lower(), r.stderr
    r = daemon.docker("rm", "-f", name, timeout=20)
    assert r.returncode == 0, r.stderr
    names.remove(name)
    assert daemon.docker("inspect", name).returncode != 0
    assert not Path(f"/proc/{info['State']['Pid']}").exists()


def test_rename(daemon: Daemon, names: list[str]) -> None:
    old, new, other = new_name(names, "c"), new_name(names, "c"), new_name(names, "c")
    daemon.docker("create", "--name", old, "busybox", "true", check=True)
    daemon.docker("create", "--name", other, "busybox", "true", check=True)
    daemon.docker("rename", old, new, check=True)
    assert inspect(daemon, new)["Name"] == f"/{new}"
    assert daemon.docker("inspect", old).returncode != 0
    # dockerd's words: the failed allocation of the new name, "/name"
    r = daemon.docker("rename", new, other)
    taken = f'Error when allocating new name: Conflict. The container name "/{other}" is already in use'
    assert r.returncode != 0 and taken.encode() in r.stderr, r.stderr
    status, _, body = request(str(daemon.socket), "POST", f"/containers/{new}/rename?name=bad%20name")
    assert status == 400 and b"Error when allocating new name: Invalid container name " \
        b"(/bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed" in body, body
    daemon.docker("rename", new, f"/{new}x", check=True)  # a leading slash is the same name
    assert inspect(daemon, f"{new}x")["Name"] == f"/{new}x"
    names.append(f"{new}x")
    status, _, _ = request(str(daemon.socket), "POST", "/containers/nosuch-x/rename?name=abc")
    assert status == 404


def test_top_lists_the_containers_processes(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "c")
    daemon.docker("run", "-d", "--name", name, "busybox", "sh", "-c", "sleep 1001 & sleep 1002",
                  check=True)
    time.sleep(0.3)
    body = json.loads(request(str(daemon.socket), "GET", f"/containers/{name}/top")[2])
    assert "PID" in body["Titles"] and "CMD" in body["Titles"]
    cmds = [p[-1] for p in body["Processes"]]
    assert any("sleep 1001" in c for c in cmds) and any("sleep 1002" in c for c in cmds)
    assert len(body["Processes"]) == 2  # the two sleeps (sh execs the last), nothing of the host
    r = daemon.docker("top", name, "-o", "pid,comm", check=True)
    lines = r.stdout.decode().splitlines()
    assert lines[0].split() == ["PID", "COMMAND"]
    assert sorted(line.split()[1] for line in lines[1:]) == ["sleep", "sleep"]
    status, _, body2 = request(str(daemon.socket), "GET", f"/containers/{name}/top?ps_args=-o%20comm")
    assert status in (400, 500) and b"PID" in body2
    daemon.docker("stop", "-t", "0", name, check=True)
    status, _, _ = request(str(daemon.socket), "GET", f"/containers/{name}/top")
    assert status == 409


def test_update_limits_of_a_running_container(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "c")
    daemon.docker("run", "-d", "--name", name, "-m", "64m", "busybox", "sleep", "1000", check=True)
    cid = inspect(daemon, name)["Id"]
    cg = Path("/sys/fs/cgroup")
    daemon.docker("update", "-m", "96m", "--memory-swap", "200m", "--pids-limit", "33",
                  "--cpus", "0.5", "--cpu-shares", "512", name, check=True)
    assert (cg / "memory" / daemon.cgroup_parent / cid / "memory.limit_in_bytes").read_text() \
        == f"{96 << 20}\n"
    assert (cg / "pids" / daemon.cgroup_parent / cid / "pids.max").read_text() == "33\n"
    assert (cg / "cpu" / daemon.cgroup_parent / cid / "cpu.cfs_quota_us").read_text() == "50000\n"
    assert (cg / "cpu" / daemon.cgroup_parent / cid / "cpu.shares").read_text() == "512\n"
    hc = inspect(daemon, name)["HostConfig"]
    assert (hc["Memory"], hc["PidsLimit"], hc["NanoCpus"]) == (96 << 20, 33, 500_000_000)
    # what the container itself sees
    r = daemon.docker("exec", name, "cat", "/sys/fs/cgroup/pids/pids.max", check=True)
    assert r.stdout == b"33\n"
    # bad input changes nothing
    r = daemon.docker("update", "-m", "1m", name)
    assert r.returncode != 0 and b"Minimum memory limit allowed is 6MB" in r.stderr
    assert inspect(daemon, name)["HostConfig"]["Memory"] == 96 << 20
    # a stopped container keeps the new limits for its next start
    daemon.docker("stop", "-t", "0", name, check=True)
    daemon.docker("update", "--pids-limit", "44", name, check=True)
    daemon.docker("start", name, check=True)
    assert (cg / "pids" / daemon.cgroup_parent / cid / "pids.max").read_text() == "44\n"



def test_memory_swap_default_is_recorded_and_kept_by_update(daemon: Daemon,
                                                            names: list[str]) -> None:
    """As dockerd: -m alone records MemorySwap = 2 x Memory; an update of the memory alone
    keeps that swap limit (inspect and memsw), and refuses a memory above it."""
    name = new_name(names, "c")
    daemon.docker("run", "-d", "--name", name, "-m", "64m", "busybox", "sleep", "1000", check=True)
    cid = inspect(daemon, name)["Id"]
    assert inspect(daemon, name)["HostConfig"]["MemorySwap"] == 128 << 20
    daemon.docker("update", "-m", "100m", name, check=True)
    hc = inspect(daemon, name)["HostConfig"]
    assert (hc["Memory"], hc["MemorySwap"]) == (100 << 20, 128 << 20)
    memsw = Path("/sys/fs/cgroup/memory", daemon.cgroup_parent, cid, "memory.memsw.limit_in_bytes")
    if memsw.exists():  # swap accounting on (this machine): the kernel holds the same limit
        assert memsw.read_text() == f"{128 << 20}\n"
    r = daemon.docker("update", "-m", "200m", name)
    assert r.returncode == 1 and f"Cannot update container {cid}: Memory limit should be " \
        "smaller than already set memoryswap limit, update the memoryswap at the same " \
        "time".encode() in r.stderr, r.stderr
    assert inspect(daemon, name)["HostConfig"]["Memory"] == 100 << 20

def test_kill_with_signal(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "c")
    daemon.docker("run", "-d", "--name", name, "busybox", "sh", "-c",
                  "trap 'echo got-usr1' USR1; trap 'exit 9' TERM; "
                  "echo ready; while true; do sleep 0.05; done", check=True)
    deadline = time.monotonic() + 10
    while b"ready" not in daemon.docker("logs", name).stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    daemon.docker("kill", "-s", "USR1", name, check=True)
    deadline = time.monotonic() + 10
    while b"got-usr1" not in daemon.docker("logs", name).stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    assert b"got-usr1" in daemon.docker("logs", name).stdout
    assert inspect(daemon, name)["State"]["Running"]
    daemon.docker("kill", "--signal", "SIGTERM", name, check=True)
    assert daemon.docker("wait", name, check=True).stdout == b"9\n"
    r = daemon.docker("kill", name)
    assert r.returncode != 0 and b"is not running" in r.stderr
    status, _, _ = request(str(daemon.socket), "POST", f"/containers/{name}/kill?signal=NOPE")
    assert status in (400, 409)


def test_wait_conditions(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "c")
    daemon.docker("create", "--name", name, "busybox", "sh", "-c", "exit 3", check=True)
    sock = str(daemon.socket)
    # not-running returns at once for a created container
    status, _, body = request(sock, "POST", f"/containers/{name}/wait")
    assert status == 200 and json.loads(body)["StatusCode"] == 0
    nxt = subprocess.Popen(
        ["curl", "-s", "--unix-socket", sock, "-X", "POST",
         f"http://x/containers/{name}/wait?condition=next-exit"], stdout=subprocess.PIPE)
    removed = subprocess.Popen(
        ["curl", "-s", "--unix-socket", sock, "-X", "POST",
         f"http://x/containers/{name}/wait?condition=removed"], stdout=subprocess.PIPE)
    time.sleep(0.3)
    daemon.docker("start", name, check=True)
    assert json.loads(nxt.communicate(timeout=20)[0])["StatusCode"] == 3
    assert removed.poll() is None  # still waiting: not removed yet
    daemon.docker("rm", name, check=True)
    names.remove(name)
    assert json.loads(removed.communicate(timeout=20)[0])["StatusCode"] == 3
    status, _, _ = request(sock, "POST", f"/containers/{new_name(names, 'c')}/wait?condition=bogus")
    assert status in (400, 404)


def test_attach_to_running_container_and_detach(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "c")
    daemon.docker("run", "-dit", "--name", name, "busybox", "sh", check=True)
    cli = PtyDocker(daemon, "attach", name)
    try:
        cli.write(b"echo attached-$((40+2))\r")
        cli.read_until(b"attached-42")
        cli.write(b"\x10\x11")
        cli.wait()
        assert b"read escape sequence" in cli.output
    finally:
        cli.close()
    assert inspect(daemon, name)["State"]["Running"]
    # custom keys, chosen by the client
    cli = PtyDocker(daemon, "attach", "--detach-keys", "ctrl-a,x", name)
    try:
        cli.write(b"echo again\r")
        cli.read_until(b"again")
        cli.write(b"\x01x")
        cli.wait()
    finally:
        cli.close()
    assert inspect(daemon, name)["State"]["Running"]


def test_stop_signal_and_stop_timeout(daemon: Daemon, names: list[str]) -> None:
    sig, slow = new_name(names, "c"), new_name(names, "c")
    daemon.docker("run", "-d", "--name", sig, "--stop-signal", "USR1", "busybox", "sh", "-c",
                  "trap 'echo got-usr1; exit 11' USR1; while true; do sleep 0.05; done",
                  check=True)
    time.sleep(0.3)
    daemon.docker("stop", sig, check=True)
    assert inspect(daemon, sig)["State"]["ExitCode"] == 11
    assert b"got-usr1" in daemon.docker("logs", sig, check=True).stdout
    # TERM is ignored (no handler in PID 1): --stop-timeout 1 then SIGKILL
    daemon.docker("run", "-d", "--name", slow, "--stop-timeout", "1", "busybox", "sleep", "1000",
                  check=True)
    t0 = time.monotonic()
    daemon.docker("stop", slow, check=True)
    took = time.monotonic() - t0
    assert 0.9 < took < 5, took
    assert inspect(daemon, slow)["State"]["ExitCode"] == 137
    assert inspect(daemon, slow)["Config"]["StopTimeout"] == 1
