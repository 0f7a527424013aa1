"""A container whose shim was killed (kill -9) while its processes lived is ended by berthd
(berth.services.shimless), as containerd ends a dead shim's task: its processes are
killed, its runtime state, cgroups, network and mounts go, its exit is recorded as 137, and
``docker start`` runs it again. Before, the re-adoption recorded "exited" (255) and tore
down its network while the process kept running unsupervised, and the start failed on the
runtime state it still held."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import pytest

from berth.network.nftables import table_name
from berth.testing.cgroups import cgroup_dirs
from tests.conftest import Daemon, start_berthd, stop_berthd
from tests.daemon.helpers import alive, boot, eventually, forget_container, inspect

pytestmark = pytest.mark.root


def _shim_pid(d: Daemon, cid: str) -> int:
    return int((d.exec_root / "containers" / cid / "shim.pid").read_text().split()[0])


def _rules(d: Daemon) -> str:
    return subprocess.run(["nft", "list", "table", "ip", table_name(d.data_root)],
                          capture_output=True, text=True).stdout


def _mounts_of(cid: str) -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if cid in line]


def _assert_ended(d: Daemon, cid: str, pid: int, port: str | None) -> None:
    eventually(lambda: not alive(pid))
    state = inspect(d, cid)["State"]
    # As dockerd shows a container whose containerd-shim was kill -9'd: 137 and no error.
    assert (state["Status"], state["Running"], state["ExitCode"], state["Error"]) == (
        "exited", False, 137, ""), state
    runtime = d.exec_root / "runtime"
    assert not (runtime / cid).exists() and not (runtime / "runc" / cid).exists()
    assert cgroup_dirs(f"{d.cgroup_parent}/{cid}") == []
    assert not (d.exec_root / "containers" / cid).exists()
    assert not (d.exec_root / "netns" / cid).exists()
    assert _mounts_of(cid) == []
    if port is not None:
        assert f"dport {port} " not in _rules(d)


def test_a_container_left_running_by_a_killed_shim_is_ended_and_starts_again(
        own_daemon: tuple[Path, list[Daemon]]) -> None:
    base, started = own_daemon
    d = boot(base, started)
    names = ("lone", "paused", "lonerunc")
    for name in names:
        extra = ["--runtime", "runc"] if name == "lonerunc" else []
        d.docker("run", "-d", *extra, "--name", name, "-p", "127.0.0.1::80", "busybox",
                 "sleep", "1000", check=True)
    d.docker("pause", "paused", check=True)
    info = {n: inspect(d, n) for n in names}
    ids = {n: info[n]["Id"] for n in names}
    pids = {n: info[n]["State"]["Pid"] for n in names}
    ports = {n: info[n]["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"] for n in names}
    assert all(f"dport {ports[n]} " in _rules(d) for n in names)
    # One whose record is lost too: nothing could reach it through the API any more.
    d.docker("run", "-d", "--name", "unrecorded", "busybox", "sleep", "1000", check=True)
    lost = inspect(d, "unrecorded")
    stop_berthd(d)
    forget_container(d, lost["Id"])
    pids["unrecorded"] = lost["State"]["Pid"]
    try:
        for cid in (*ids.values(), lost["Id"]):
            os.kill(_shim_pid(d, cid), signal.SIGKILL)
        d = start_berthd(base)
        started.append(d)
        eventually(lambda: not alive(lost["State"]["Pid"]))
        assert not (d.exec_root / "runtime" / lost["Id"]).exists()
        assert cgroup_dirs(f"{d.cgroup_parent}/{lost['Id']}") == []
        assert _mounts_of(lost["Id"]) == []
        # Nothing runs behind a record that says exited, and nothing of it is left.
        for name in names:
            _assert_ended(d, ids[name], pids[name], ports[name])
            d.docker("start", name, check=True)
            assert inspect(d, name)["State"]["Running"], name
            assert d.docker("exec", name, "echo", "ok", check=True).stdout == b"ok\n"
    finally:
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    d.docker("rm", "-f", *names, check=True)


def test_a_shim_killed_while_berthd_runs_takes_its_container_with_it(
        own_daemon: tuple[Path, list[Daemon]]) -> None:
    """The monitor loses the shim: the container is ended the same way, at once."""
    base, started = own_daemon
    d = boot(base, started)
    d.docker("run", "-d", "--name", "watched", "busybox", "sleep", "1000", check=True)
    cid, pid = inspect(d, "watched")["Id"], inspect(d, "watched")["State"]["Pid"]
    try:
        os.kill(_shim_pid(d, cid), signal.SIGKILL)
        eventually(lambda: not inspect(d, "watched")["State"]["Running"])
        _assert_ended(d, cid, pid, None)
        d.docker("start", "watched", check=True)
        assert inspect(d, "watched")["State"]["Running"]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    d.docker("rm", "-f", "watched", check=True)


_POLICIES = ("always", "on-failure", "unless-stopped", "no")


def _policy_states(d: Daemon) -> dict[str, tuple[str, int, int]]:
    out = {}
    for p in _POLICIES:
        st = inspect(d, f"r-{p}")
        out[p] = (st["State"]["Status"], st["State"]["ExitCode"], st["RestartCount"])
    return out


def test_restart_policies_apply_to_a_container_whose_shim_was_killed(
        own_daemon: tuple[Path, list[Daemon]]) -> None:
    """As a private dockerd does when containerd's shim of a container is kill -9'd: the
    container ends with 137 and ``always``, ``on-failure`` and ``unless-stopped`` start it
    again (RestartCount 1); after a daemon restart that finds the shims dead (live restore)
    they are started again too, as its boot starts, which reset RestartCount to 0."""
    base, started = own_daemon
    d = boot(base, started)
    for p in _POLICIES:
        d.docker("run", "-d", "--name", f"r-{p}", "--restart", p, "busybox", "sleep", "1000",
                 check=True)
    ids = {p: inspect(d, f"r-{p}")["Id"] for p in _POLICIES}
    pids = [inspect(d, f"r-{p}")["State"]["Pid"] for p in _POLICIES]
    try:
        for p in _POLICIES:
            os.kill(_shim_pid(d, ids[p]), signal.SIGKILL)
        expected = {"always": ("running", 0, 1), "on-failure": ("running", 0, 1),
                    "unless-stopped": ("running", 0, 1), "no": ("exited", 137, 0)}
        eventually(lambda: _policy_states(d) == expected)
        pids += [inspect(d, f"r-{p}")["State"]["Pid"] for p in _POLICIES[:3]]
        # their shims die while berthd is down
        shims = [_shim_pid(d, ids[p]) for p in _POLICIES[:3]]
        stop_berthd(d)
        for shim in shims:
            os.kill(shim, signal.SIGKILL)
        d = start_berthd(base)
        started.append(d)
        expected = {"always": ("running", 0, 0), "on-failure": ("running", 0, 0),
                    "unless-stopped": ("running", 0, 0), "no": ("exited", 137, 0)}
        eventually(lambda: _policy_states(d) == expected)
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
