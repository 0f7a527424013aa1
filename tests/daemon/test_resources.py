"""Resource flags checked by their effect on real processes: OOM kill, pids limit, CPU quota,
cpuset, ulimits, /dev/shm size, memory reservation / swap / oom-kill-disable in cgroup v1."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.daemon.helpers import inspect, new_name

pytestmark = pytest.mark.root

CG = Path("/sys/fs/cgroup")


def test_over_memory_limit_is_oom_killed(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "r")
    r = daemon.docker("run", "--name", name, "-m", "16m", "--memory-swap", "16m", "busybox",
                      "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1")
    assert r.returncode == 137
    st = inspect(daemon, name)["State"]
    assert st["OOMKilled"] is True and st["ExitCode"] == 137
    # the same program fits without the limit, and then it is no OOM
    fits = new_name(names, "r")
    r = daemon.docker("run", "--name", fits, "busybox", "dd", "if=/dev/zero", "of=/dev/null",
                      "bs=64M", "count=1")
    assert r.returncode == 0
    assert inspect(daemon, fits)["State"]["OOMKilled"] is False


def test_fork_bomb_stops_at_pids_limit(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "r")
    daemon.docker("run", "-d", "--name", name, "--pids-limit", "20", "busybox", "sh", "-c",
                  "echo start; sh -c 'i=0; while [ $i -lt 100 ]; do sleep 30 & i=$((i+1)); "
                  "done'; exec sleep 30", check=True)
    cid = inspect(daemon, name)["Id"]
    current = CG / "pids" / daemon.cgroup_parent / cid / "pids.current"
    deadline = time.monotonic() + 10
    while b"can't fork" not in daemon.docker("logs", name).stderr and time.monotonic() < deadline:
        time.sleep(0.1)
    logs = daemon.docker("logs", name)
    assert b"start" in logs.stdout
    assert b"can't fork: Resource temporarily unavailable" in logs.stderr
    assert 1 <= int(current.read_text()) <= 20
    events = (CG / "pids" / daemon.cgroup_parent / cid / "pids.events").read_text()
    assert int(events.split()[1]) > 0  # "max N": forks refused


def _cpu_usage_ns(daemon: Daemon, cid: str) -> int:
    return int((CG / "cpuacct" / daemon.cgroup_parent / cid / "cpuacct.usage").read_text())


def test_cpus_half_holds_a_busy_loop_near_50_percent(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "r")
    daemon.docker("run", "-d", "--name", name, "--cpus", "0.5", "busybox", "sh", "-c",
                  "while :; do :; done", check=True)
    cid = inspect(daemon, name)["Id"]
    time.sleep(0.3)
    u0, t0 = _cpu_usage_ns(daemon, cid), time.monotonic()
    time.sleep(3.0)
    u1, t1 = _cpu_usage_ns(daemon, cid), time.monotonic()
    share = (u1 - u0) / ((t1 - t0) * 1e9)
    stat = dict(line.split() for line in
                (CG / "cpu" / daemon.cgroup_parent / cid / "cpu.stat").read_text().splitlines())
    # The quota caps the loop at half a core (the kernel throttled it to get there); on a
    # loaded 2-core test machine the loop may get less than its half, never more.
    assert int(stat["nr_throttled"]) > 0
    assert 0.15 < share < 0.6, share


def test_cpuset_and_cpu_shares(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "r")
    r = daemon.docker("run", "--name", name, "--cpuset-cpus", "0", "--cpu-shares", "256",
                      "--cpu-period", "50000", "--cpu-quota", "25000", "busybox", "sh", "-c",
                      "grep Cpus_allowed_list /proc/self/status; cat /sys/fs/cgroup/cpu/cpu.shares "
                      "/sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpu/cpu.cfs_quota_us",
                      check=True)
    lines = r.stdout.decode().split("\n")
    assert lines[0].split()[1] == "0"
    assert lines[1:4] == ["256", "50000", "25000"]


def test_ulimit_and_shm_size(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "r")
    r = daemon.docker("run", "--name", name, "--ulimit", "nofile=123:456", "--shm-size", "8m",
                      "busybox", "sh", "-c", "ulimit -n; ulimit -Hn; df -k /dev/shm | tail -1",
                      check=True)
    lines = r.stdout.decode().splitlines()
    assert lines[:2] == ["123", "456"]
    assert lines[2].split()[1] == "8192"
    # and the limit is enforced: more fds than allowed fail
    for limit, opened in (("10", False), ("100", True)):
        r = daemon.docker("run", "--rm", "--ulimit", f"nofile={limit}", "busybox", "sh", "-c",
                          "exec 12</dev/null && echo opened")
        assert (b"opened" in r.stdout) is opened, r


def test_memory_reservation_swap_and_oom_kill_disable(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "r")
    daemon.docker("run", "-d", "--name", name, "-m", "32m", "--memory-swap", "64m",
                  "--memory-reservation", "16m", "--oom-kill-disable", "--blkio-weight", "300",
                  "busybox", "sleep", "1000", check=True)
    info = inspect(daemon, name)
    mem = CG / "memory" / daemon.cgroup_parent / info["Id"]
    assert (mem / "memory.limit_in_bytes").read_text() == f"{32 << 20}\n"
    assert (mem / "memory.memsw.limit_in_bytes").read_text() == f"{64 << 20}\n"
    assert (mem / "memory.soft_limit_in_bytes").read_text() == f"{16 << 20}\n"
    assert "oom_kill_disable 1" in (mem / "memory.oom_control").read_text()
    hc = info["HostConfig"]
    assert (hc["MemoryReservation"], hc["OomKillDisable"], hc["BlkioWeight"]) == (16 << 20, True, 300)
