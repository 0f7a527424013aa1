"""Namespaces as seen from inside: PID 1, hostname, private process table, lo up; a mount
namespace inherited (chroot) or joined by path."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from berth.errors import RuntimeFailure
from berth.runtime import container

from .conftest import Env, wait_exit

pytestmark = pytest.mark.root


def test_command_is_pid_1(rt: Env) -> None:
    r = rt.run(["sh", "-c", "echo $$; cat /proc/1/cmdline | tr '\\0' ' '"])
    assert r.status == 0
    assert r.stdout.splitlines() == ["1", "sh -c echo $$; cat /proc/1/cmdline | tr '\\0' ' ' "]


def test_hostname_is_the_spec_s_and_host_keeps_its_own(rt: Env) -> None:
    r = rt.run(["hostname"])
    assert r.stdout == "berthtest\n"
    assert socket.gethostname() != "berthtest"


def test_host_processes_are_invisible(rt: Env) -> None:
    r = rt.run(["sh", "-c", "ls -d /proc/[0-9]* | wc -l"])
    # sh, ls and wc: nothing from the host
    assert r.status == 0 and int(r.stdout) <= 3


def test_loopback_is_up_in_new_netns(rt: Env) -> None:
    r = rt.run(["sh", "-c", "cat /sys/class/net/lo/flags; ls /sys/class/net; ping -c1 -W2 127.0.0.1"])
    lines = r.stdout.splitlines()
    assert int(lines[0], 16) & 0x1, r.stdout
    assert lines[1] == "lo"
    assert r.status == 0, r.stdout + r.stderr


def _mountinfo() -> str:
    return Path("/proc/self/mountinfo").read_text()


def test_without_mount_namespace_rootfs_is_chrooted_and_unmounted_at_delete(rt: Env) -> None:
    # No mount namespace in the spec (runtime-tools' linux_ns_itype): the mounts are made in
    # ours, on the rootfs, and the init is chrooted; delete takes them all away again.
    def mutate(spec: dict[str, Any]) -> None:
        spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"]
                                       if n["type"] != "mount"]

    bundle, mounts, _ = rt.bundle(["sh", "-c", "readlink /proc/self/ns/mnt; ls /bin/busybox"],
                                  overlay=False, mutate=mutate)
    out_r, out_w = os.pipe()
    try:
        created = container.create(rt.options(bundle, mounts, stdout=out_w))
    finally:
        os.close(out_w)
    try:
        while_created = _mountinfo()
        created.start()
        assert wait_exit(created.pid) == 0
        with os.fdopen(out_r) as f:
            lines = f.read().splitlines()
    finally:
        container.delete(rt.state_root, created.id)
    assert lines == [os.readlink("/proc/self/ns/mnt"), "/bin/busybox"]
    assert f"{bundle}/rootfs/proc " in while_created
    assert str(bundle) not in _mountinfo()


def test_mount_namespace_joined_by_path(rt: Env) -> None:
    holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sleep", "60"])
    try:
        ns = f"/proc/{holder.pid}/ns/mnt"
        deadline = time.monotonic() + 10
        while os.readlink(ns) == os.readlink("/proc/self/ns/mnt"):
            assert time.monotonic() < deadline, "unshare did not enter its namespace"
            time.sleep(0.01)

        def mutate(spec: dict[str, Any]) -> None:
            for n in spec["linux"]["namespaces"]:
                if n["type"] == "mount":
                    n["path"] = ns

        r = rt.run(["readlink", "/proc/self/ns/mnt"], mutate=mutate)
        assert (r.status, r.stdout) == (0, os.readlink(ns) + "\n"), r.stderr
        # Everything happened in the joined namespace, nothing in ours.
        assert str(rt.base) not in _mountinfo()
    finally:
        holder.kill()
        holder.wait()


def test_time_namespace_offsets(rt: Env) -> None:
    year = 365 * 86400

    def mutate(spec: dict[str, Any]) -> None:
        spec["linux"]["namespaces"].append({"type": "time"})
        spec["linux"]["timeOffsets"] = {"boottime": {"secs": year, "nanosecs": 0},
                                        "monotonic": {"secs": 2 * year}}

    r = rt.run(["sh", "-c", "cut -d. -f1 /proc/uptime; cat /proc/self/timens_offsets"],
               mutate=mutate)
    lines = r.stdout.splitlines()
    assert r.status == 0 and int(lines[0]) >= year, r.stdout + r.stderr
    assert [line.split() for line in lines[1:]] == [["monotonic", str(2 * year), "0"],
                                                    ["boottime", str(year), "0"]]


def test_time_offsets_without_time_namespace_are_refused(rt: Env) -> None:
    bundle, mounts, _ = rt.bundle(["true"], mutate=lambda s: s["linux"].update(
        timeOffsets={"boottime": {"secs": 1}}))
    with pytest.raises(RuntimeFailure, match="needs a new time namespace"):
        container.create(rt.options(bundle, mounts))
    assert not (rt.state_root / rt.ids[-1]).exists()
