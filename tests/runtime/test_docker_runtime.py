"""The real Docker engine drives berth-runtime: a private dockerd with ``--add-runtime berth=...``
runs busybox containers through containerd's runc shim, which calls berth-runtime exactly as it
calls runc (create with --console-socket/--pid-file, start, state, kill, delete, exec, pause).

The dockerd has its own socket, roots and cgroup parent and no bridge or iptables; it is
stopped (by its PID) and its directories removed even when a test fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from berth.testing.cgroups import remove_cgroup_tree, session_cgroup_name
from berth.testing.rootfs import busybox_rootfs_tar
from tests.conftest import stop_process

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(shutil.which("dockerd") is None, reason="docker.io not installed")]

RUNTIME = str(Path(sys.executable).parent / "berth-runtime")


@dataclass
class Docker:
    env: dict[str, str]

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["docker", *args], env=self.env, capture_output=True, text=True,
                              timeout=120)
        if check:
            assert proc.returncode == 0, proc.stderr
        return proc


@pytest.fixture(scope="module")
def docker() -> Iterator[Docker]:
    base = Path(tempfile.mkdtemp(prefix="berth-rt-dockerd-"))
    cgroup_parent = session_cgroup_name("rt-dockerd")
    sock = base / "d.sock"
    log = open(base / "dockerd.log", "wb")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(
        ["dockerd", "-H", f"unix://{sock}", "--data-root", str(base / "root"),
         "--exec-root", str(base / "exec"), "--pidfile", str(base / "d.pid"),
         "--bridge=none", "--iptables=false", "--ip6tables=false",
         "--cgroup-parent", cgroup_parent, "--add-runtime", f"berth={RUNTIME}"],
        stdout=log, stderr=subprocess.STDOUT)
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(base / "cfg")}
    d = Docker(env)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (base / "dockerd.log").read_text()[-2000:]
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as s:
                s.connect(str(sock))
                break
            assert time.monotonic() < deadline, "dockerd did not start"
            time.sleep(0.05)
        subprocess.run(["docker", "import", "-", "busybox:latest"], env=env, check=True,
                       input=busybox_rootfs_tar(), capture_output=True, timeout=120)
        yield d
    finally:
        ids = d("ps", "-aq", check=False).stdout.split() if proc.poll() is None else []
        if ids:
            d("rm", "-f", *ids, check=False)
        stop_process(proc, 30)
        log.close()
        # dockerd leaves its --cgroup-parent (relative: under our own cgroup where that is not
        # the root) in every hierarchy; its containers are gone, so only empty dirs remain.
        remove_cgroup_tree(cgroup_parent, kill=True)
        shutil.rmtree(base, ignore_errors=True)


def test_docker_run_exec_pause_stop_with_berth_runtime(docker: Docker) -> None:
    out = docker("run", "--rm", "--runtime", "berth", "busybox", "sh", "-c", "echo hi; exit 0")
    assert out.stdout == "hi\n"
    failed = docker("run", "--rm", "--runtime", "berth", "busybox", "sh", "-c", "exit 3",
                    check=False)
    assert failed.returncode == 3
    cid = docker("run", "-d", "--runtime", "berth", "busybox", "sh", "-c",
                 "trap 'exit 0' TERM; while true; do sleep 0.1; done").stdout.strip()
    try:
        assert docker("inspect", "-f", "{{.HostConfig.Runtime}}", cid).stdout.strip() == "berth"
        ex = docker("exec", cid, "sh", "-c", "echo from-exec; exit 4", check=False)
        assert (ex.returncode, ex.stdout) == (4, "from-exec\n")
        docker("pause", cid)
        assert docker("inspect", "-f", "{{.State.Status}}", cid).stdout.strip() == "paused"
        docker("unpause", cid)
        assert docker("inspect", "-f", "{{.State.Status}}", cid).stdout.strip() == "running"
        stats = docker("stats", "--no-stream", "--format", "{{.PIDs}}", cid).stdout.strip()
        assert int(stats) >= 1
        docker("stop", "-t", "10", cid)
        assert docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}",
                      cid).stdout.strip() == "exited 0"
    finally:
        docker("rm", "-f", cid, check=False)


def test_docker_run_and_exec_with_a_tty(docker: Docker) -> None:
    # dockerd's spec denies every device and leaves the defaults (ptmx, the pts) to the
    # runtime, as runc appends them: without those the pty cannot be opened.
    out = docker("run", "--rm", "-t", "--runtime", "berth", "busybox", "sh", "-c",
                 "tty; readlink /proc/self/fd/2")
    assert out.stdout.replace("\r", "").splitlines() == ["/dev/pts/0", "/dev/pts/0"], out.stderr
    cid = docker("run", "-d", "--runtime", "berth", "busybox", "sleep", "30").stdout.strip()
    try:
        ex = docker("exec", "-t", cid, "tty")
        assert ex.stdout.replace("\r", "").startswith("/dev/pts/"), ex.stdout + ex.stderr
    finally:
        docker("rm", "-f", cid, check=False)


def test_docker_exec_failure_reads_as_under_runc(docker: Docker) -> None:
    answers = []
    for runtime in ("runc", "berth"):
        cid = docker("run", "-d", "--runtime", runtime, "busybox", "sleep", "30").stdout.strip()
        try:
            res = docker("exec", cid, "nosuchbin", check=False)
            answers.append((res.returncode, (res.stdout + res.stderr).strip()))
        finally:
            docker("rm", "-f", cid, check=False)
    assert answers[0] == answers[1], answers
    assert 'exec: "nosuchbin": executable file not found in $PATH' in answers[1][1]
