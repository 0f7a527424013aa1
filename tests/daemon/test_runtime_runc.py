"""--runtime runc drives the same OCI bundle as berth's runtime: the process must see the
same namespaces, mounts, cgroup limits, env, user, capabilities and rlimits under both."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed")]

_PROBE = r"""
for n in cgroup ipc mnt net pid uts user; do
  if [ "$(readlink /proc/self/ns/$n)" = "$(cat /hostns/$n)" ]; then echo "ns $n host"
  else echo "ns $n new"; fi
done
awk '{print "mount", $5, $9, $6}' /proc/self/mountinfo | sed 's/,relatime//' | sort
echo "memory $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
echo "pids $(cat /sys/fs/cgroup/pids/pids.max)"
echo "cpu $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"
env | grep -v '^HOSTNAME=' | sort | sed 's/^/env /'
echo "id $(id)"
echo "hostname $(hostname)"
grep -E '^(CapBnd|CapEff|CapPrm|NoNewPrivs|Seccomp):' /proc/self/status | sed 's/^/status /'
echo "nofile $(ulimit -n) $(ulimit -Hn)"
echo "cwd $(pwd)"
echo "pid1 $(cat /proc/1/cmdline | tr '\0' ' ')"
ls -la /dev | awk '{print "dev", $1, $NF}' | grep -v ' \.\.\?$'
"""


@pytest.fixture
def hostns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    d = tmp_path_factory.mktemp("hostns")
    d.chmod(0o755)  # read by uid 1 inside the container
    for n in ("cgroup", "ipc", "mnt", "net", "pid", "uts", "user"):
        (d / n).write_text(os.readlink(f"/proc/self/ns/{n}"))
    yield str(d)


def _probe(daemon: Daemon, runtime: str, hostns: str) -> list[str]:
    name = f"rt-{runtime}-{uuid.uuid4().hex[:8]}"
    try:
        r = daemon.docker("run", "--name", name, "--runtime", runtime, "--hostname", "probe",
                          "-m", "48m", "--pids-limit", "33", "--cpus", "0.25", "-e", "X=1",
                          "--ulimit", "nofile=321:654", "-w", "/tmp", "-u", "1:1",
                          "-v", f"{hostns}:/hostns:ro", "busybox", "sh", "-c", _PROBE)
        assert r.returncode == 0, r.stderr
        return r.stdout.decode().splitlines()
    finally:
        daemon.docker("rm", "-f", name)


def test_same_bundle_same_view_under_berth_and_runc(daemon: Daemon, hostns: str) -> None:
    berth = _probe(daemon, "berth", hostns)
    runc = _probe(daemon, "runc", hostns)
    assert "ns pid new" in berth and "ns user host" in berth, berth
    assert f"memory {48 << 20}" in berth and "pids 33" in berth and "cpu 25000 100000" in berth
    assert "id uid=1 gid=1 groups=1" in berth  # the busybox image has no passwd entry for 1
    # Both leave the v1 /sys/fs/cgroup tmpfs read-write, as Docker + runc do.
    assert berth == runc


def test_runc_container_lifecycle(daemon: Daemon) -> None:
    name = f"rt-life-{uuid.uuid4().hex[:8]}"
    try:
        daemon.docker("run", "-d", "--runtime", "runc", "--name", name, "busybox", "sh", "-c",
                      "trap 'exit 4' TERM; while true; do sleep 0.1; done", check=True)
        assert daemon.docker("exec", name, "echo", "in-runc", check=True).stdout == b"in-runc\n"
        daemon.docker("pause", name, check=True)
        daemon.docker("unpause", name, check=True)
        top = daemon.docker("top", name, check=True).stdout
        assert b"sleep 0.1" in top or b"sh -c" in top
        daemon.docker("stop", name, check=True)
        code = daemon.docker("inspect", "-f", "{{.State.ExitCode}} {{.HostConfig.Runtime}}", name,
                             check=True).stdout
        assert code == b"4 runc\n"
    finally:
        daemon.docker("rm", "-f", name)
    r = daemon.docker("run", "--rm", "--runtime", "nosuch", "busybox", "true")
    assert r.returncode == 125 and b"unknown or invalid runtime name: nosuch" in r.stderr


@pytest.mark.skipif(shutil.which("crun") is None, reason="crun is not installed")
def test_crun_drives_the_same_bundle_or_says_why_not(daemon: Daemon) -> None:
    r = daemon.docker("run", "--rm", "--runtime", "crun", "busybox", "echo", "hi-crun")
    hybrid_v2_controllers = Path("/sys/fs/cgroup/unified/cgroup.controllers")
    if hybrid_v2_controllers.exists() and hybrid_v2_controllers.read_text().split():
        # crun refuses hybrid hosts whose v2 hierarchy has controllers (this machine's hugetlb)
        assert r.returncode == 125
        assert b"crun create: cgroups in hybrid mode not supported" in r.stderr
    else:
        assert (r.returncode, r.stdout) == (0, b"hi-crun\n"), r.stderr
