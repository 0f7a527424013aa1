"""berthd --userns-remap default: root in the container is berthremap's first subordinate uid on
the host, image layers are shifted by idmapped mounts (not chowned copies), the writable layer
and named volumes belong to the mapped root; --userns host opts out; --privileged is refused.
A private berthd (own roots, socket, cgroup parent, bridge) driven by the docker CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.testing.cgroups import session_cgroup_name
from tests.conftest import Daemon, network_flags, remove_all_containers, retire_berthd

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def remapped() -> Iterator[Daemon]:
    base = Path(tempfile.mkdtemp(prefix="berth-userns-"))
    os.chmod(base, 0o755)  # the mapped root walks through it to the bundle and volumes
    sock = base / "berth.sock"
    cgroup_parent = session_cgroup_name("test", base.name)
    cmd = [sys.executable, "-m", "berth.daemon.main", "--host", f"unix://{sock}",
           "--data-root", str(base / "data"), "--exec-root", str(base / "exec"),
           "--pidfile", str(base / "berthd.pid"), "--cgroup-parent", cgroup_parent,
           "--log-level", "debug", *network_flags(base), "--metrics-addr", "127.0.0.1:0",
           "--userns-remap", "default"]
    log = base / "berthd.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    env = dict(os.environ)
    env.update({"DOCKER_HOST": f"unix://{sock}", "BERTH_HOST": f"unix://{sock}",
                "BERTH_NO_AUTOSTART": "1", "DOCKER_CONFIG": str(base / "docker-config")})
    d = Daemon(host=f"unix://{sock}", socket=sock, data_root=base / "data", exec_root=base / "exec",
               cgroup_parent=cgroup_parent, process=proc, log_path=log, env=env)
    leftovers: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        from berth.baseimages import ensure_base_images

        ensure_base_images(d.host)
        yield d
    finally:
        remove_all_containers(d)
        d.docker("volume", "prune", "-af")
        leftovers = retire_berthd(d, base)
        shutil.rmtree(base, ignore_errors=True)
    assert not leftovers, f"berth left these behind: {leftovers}"


def _subid_start(path: str) -> int:
    for line in Path(path).read_text().splitlines():
        name, start, _ = line.split(":")
        if name == "berthremap":
            return int(start)
    raise AssertionError(f"no berthremap range in {path}")


def test_root_in_container_is_an_unprivileged_host_uid(remapped: Daemon) -> None:
    uid0, gid0 = _subid_start("/etc/subuid"), _subid_start("/etc/subgid")
    assert uid0 > 0 and gid0 > 0
    name = "userns-root"
    try:
        res = remapped.docker("run", "-d", "--name", name, "-v", "userns-vol:/vol", "busybox", "sh",
                              "-c", "touch /tmp/made-by-root /vol/made-by-root && sleep 60")
        assert res.returncode == 0, res.stderr
        res = remapped.docker("exec", name, "cat", "/proc/self/uid_map", "/proc/self/gid_map")
        assert res.returncode == 0, res.stderr
        assert res.stdout.split() == [b"0", str(uid0).encode(), b"65536",
                                      b"0", str(gid0).encode(), b"65536"]
        res = remapped.docker("exec", name, "stat", "-c", "%u:%g", "/bin/busybox", "/etc/passwd",
                              check=True)
        assert res.stdout.split() == [b"0:0", b"0:0"]  # image files belong to the container's root
        pid = int(remapped.docker("inspect", "-f", "{{.State.Pid}}", name, check=True).stdout)
        for _ in range(50):
            if os.path.exists(f"/proc/{pid}/root/tmp/made-by-root"):
                break
            time.sleep(0.1)
        # On the host: what root made in the container belongs to the mapped uid.
        made = os.stat(f"/proc/{pid}/root/tmp/made-by-root")
        assert (made.st_uid, made.st_gid) == (uid0, gid0)
        vol = json.loads(remapped.docker("volume", "inspect", "userns-vol", check=True).stdout)[0]
        made = os.stat(os.path.join(vol["Mountpoint"], "made-by-root"))
        assert (made.st_uid, made.st_gid) == (uid0, gid0)
        # The image's layers were not chowned: every layer dir on disk still belongs to host root.
        snapshots = remapped.data_root / "snapshots"
        layer_owners = {os.stat(p / "fs" / "bin" / "busybox").st_uid
                        for p in snapshots.iterdir() if (p / "fs" / "bin" / "busybox").exists()}
        assert layer_owners == {0}
        # A host process with the mapped uid and no capabilities cannot be root anywhere else.
        with open(f"/proc/{pid}/status") as f:
            uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
        assert uids == [str(uid0)] * 4
    finally:
        remapped.docker("rm", "-f", name)
        remapped.docker("volume", "rm", "-f", "userns-vol")


def test_userns_host_opts_out(remapped: Daemon) -> None:
    res = remapped.docker("run", "--rm", "--userns", "host", "busybox", "cat", "/proc/self/uid_map",
                          check=True)
    assert res.stdout.split() == [b"0", b"0", b"4294967295"]


def test_privileged_is_refused_under_remap(remapped: Daemon) -> None:
    res = remapped.docker("create", "--privileged", "busybox", "true")
    assert res.returncode != 0
    assert b"privileged mode is incompatible with user namespaces" in res.stderr
    assert remapped.docker("ps", "-aq", check=True).stdout.strip() == b""
