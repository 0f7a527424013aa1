"""Escape attempts from inside containers (escape_probe.c): every one fails under the defaults,
and the ones Docker's --privileged / --cap-add / --cap-drop / --security-opt say should change do."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.security import probes

pytestmark = pytest.mark.root

ALL_PROBES = ("mount", "umount", "unshare_userns", "clone_userns", "keyctl", "add_key", "bpf",
              "perf_event_open", "kexec_load", "init_module", "reboot", "swapon", "ptrace_host",
              "sysrq_trigger", "kcore", "timer_list", "proc_sys_kernel", "write_sys", "host_disk",
              "raw_socket", "chroot_escape", "host_pid_visible")


@pytest.fixture(scope="module")
def kit() -> Iterator[probes.ProbeKit]:
    base = Path(tempfile.mkdtemp(prefix="berth-probe-"))
    try:
        yield probes.build(base)
    finally:
        import shutil

        shutil.rmtree(base, ignore_errors=True)


def _blocked(results: dict[str, str]) -> set[str]:
    return {k for k, v in results.items() if v.startswith("blocked")}


def test_default_container_blocks_every_escape(daemon: Daemon, kit: probes.ProbeKit) -> None:
    results = probes.run_all(daemon, kit)
    assert set(results) == set(ALL_PROBES), results
    # NET_RAW is in Docker's default capability set: raw sockets work until it is dropped.
    assert results["raw_socket"] == "allowed"
    not_blocked = {k: v for k, v in results.items() if k != "raw_socket" and not v.startswith("blocked")}
    assert not not_blocked, results
    # Seccomp answers the calls no capability guards, before the kernel looks at them.
    for name in ("keyctl", "add_key", "bpf", "perf_event_open", "unshare_userns", "clone_userns"):
        assert results[name] == "blocked EPERM", (name, results)
    # Masked paths are /dev/null binds (read empty); read-only paths are EROFS. Kernels built
    # without /proc/kcore or /proc/sysrq-trigger (this VM's) have nothing there to reach.
    assert results["kcore"] == ("blocked ENODATA" if Path("/proc/kcore").exists() else "blocked ENOENT")
    assert results["timer_list"] == "blocked ENODATA"
    assert results["sysrq_trigger"] == ("blocked EROFS" if Path("/proc/sysrq-trigger").exists()
                                        else "blocked ENOENT")
    assert results["proc_sys_kernel"] == "blocked EROFS"
    assert results["write_sys"] == "blocked EROFS"
    assert results["host_disk"] == "blocked EPERM"         # mknod works, the device cgroup says no
    assert results["chroot_escape"] == "blocked ENOENT"    # escapes only to the container's root
    assert results["host_pid_visible"] == "blocked ESRCH"
    assert results["ptrace_host"] == "blocked ESRCH"


def test_cap_drop_net_raw_blocks_raw_sockets(daemon: Daemon, kit: probes.ProbeKit) -> None:
    results = probes.run_all(daemon, kit, "--cap-drop", "NET_RAW")
    assert results["raw_socket"] == "blocked EPERM"


def test_cap_drop_all_blocks_raw_sockets_and_mknod(daemon: Daemon, kit: probes.ProbeKit) -> None:
    results = probes.run_all(daemon, kit, "--cap-drop", "ALL")
    assert results["raw_socket"] == "blocked EPERM"
    assert results["host_disk"] == "blocked EPERM"
    assert len(_blocked(results)) == len(ALL_PROBES)


def test_cap_add_sys_admin_opens_mount_and_namespaces(daemon: Daemon, kit: probes.ProbeKit) -> None:
    results = probes.run_all(daemon, kit, "--cap-add", "SYS_ADMIN")
    # With CAP_SYS_ADMIN the profile lets mount/umount/unshare/clone-with-namespaces through.
    for name in ("mount", "umount", "unshare_userns", "clone_userns"):
        assert results[name] == "allowed", (name, results)
    # Still confined where no capability was added.
    for name in ("keyctl", "add_key", "host_disk", "sysrq_trigger", "chroot_escape", "host_pid_visible"):
        assert results[name].startswith("blocked"), (name, results)


def test_privileged_opens_what_docker_opens(daemon: Daemon, kit: probes.ProbeKit) -> None:
    results = probes.run_all(daemon, kit, "--privileged")
    for name in ("mount", "umount", "unshare_userns", "clone_userns", "keyctl", "add_key",
                 "timer_list", "proc_sys_kernel", "write_sys", "raw_socket"):
        assert results[name] == "allowed", (name, results)
    # All devices: the container reads the host disk exactly when root on the host can (this
    # VM's sandbox forbids even the host's root to open /dev/vda).
    assert (results["host_disk"] == "allowed") == probes.host_can_read_disk(), results
    # Namespaces still hide the host's processes and root.
    assert results["host_pid_visible"] == "blocked ESRCH"
    assert results["chroot_escape"].startswith("blocked")


def test_no_new_privileges_keeps_setuid_from_raising_euid(daemon: Daemon, kit: probes.ProbeKit) -> None:
    base = ["run", "--rm", *kit.mount(), "--user", "1000:1000"]
    plain = daemon.docker(*base, "busybox", "/probe/escape_probe_suid", "euid", check=True)
    assert plain.stdout.decode().strip() == "euid 0"
    nnp = daemon.docker(*base, "--security-opt", "no-new-privileges", "busybox",
                        "/probe/escape_probe_suid", "euid", check=True)
    assert nnp.stdout.decode().strip() == "euid 1000"


def test_fork_bomb_stops_at_pids_limit(daemon: Daemon, kit: probes.ProbeKit) -> None:
    res = daemon.docker("run", "--rm", *kit.mount(), "--pids-limit", "20", "busybox",
                        "/probe/escape_probe", "forkbomb", "500", check=True)
    forked = int(res.stdout.decode().split()[1])
    assert 0 < forked < 20


def test_memory_beyond_limit_is_oom_killed(daemon: Daemon, kit: probes.ProbeKit) -> None:
    name = f"sec-{uuid.uuid4().hex[:10]}"
    try:
        res = daemon.docker("run", "--name", name, *kit.mount(), "-m", "32m", "--memory-swap", "32m",
                            "busybox", "/probe/escape_probe", "memory", "200")
        assert res.returncode == 137, res
        assert b"touched" not in res.stdout
        state = json.loads(daemon.docker("inspect", name, check=True).stdout)[0]["State"]
        assert state["OOMKilled"] is True
    finally:
        daemon.docker("rm", "-f", name)
