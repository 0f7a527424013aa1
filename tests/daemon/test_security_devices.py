"""--device, --device-cgroup-rule, --privileged's devices, --group-add and --sysctl through the
docker CLI, the SDK and the berth CLI, against the real devices cgroup (v1 on this host)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import docker
import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.root

FUSE = "/dev/fuse"  # 10:229, world read/write on the host, not in the default allow list


@pytest.fixture
def client(daemon: Daemon) -> Iterator[docker.DockerClient]:
    c = docker.DockerClient(base_url=daemon.host)
    try:
        yield c
    finally:
        c.close()


def _open(mode: str, path: str) -> str:
    # busybox sh: 3< opens O_RDONLY, 3<> O_RDWR; the devices cgroup decides at open.
    redirect = "3<" if mode == "r" else "3<>"
    return f"exec {redirect}{path} && echo opened"


def test_device_is_created_and_allowed(daemon: Daemon) -> None:
    if not os.path.exists(FUSE):
        pytest.fail("/dev/fuse missing on this host")
    res = daemon.docker("run", "--rm", "--device", FUSE, "busybox", "sh", "-c",
                        f"ls -l {FUSE}; {_open('rw', FUSE)}")
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    assert out.startswith("crw-rw-rw-") and "10, 229" in out and "opened" in out
    # Without the mapping the node is not there, and a mknod'ed one is refused by the cgroup.
    res = daemon.docker("run", "--rm", "busybox", "sh", "-c",
                        f"test ! -e {FUSE} && mknod /tmp/f c 10 229 && {_open('r', '/tmp/f')}")
    assert res.returncode != 0 and b"opened" not in res.stdout
    assert b"Operation not permitted" in res.stderr


def test_device_renamed_with_read_only_permissions(daemon: Daemon, names: list[str]) -> None:
    name = f"dev-{uuid.uuid4().hex[:8]}"
    names.append(name)
    res = daemon.docker("run", "--name", name, "--device", f"{FUSE}:/dev/myfuse:r", "busybox",
                        "sh", "-c", f"{_open('r', '/dev/myfuse')}; {_open('rw', '/dev/myfuse')}")
    assert res.stdout.decode().count("opened") == 1, (res.stdout, res.stderr)
    assert b"Operation not permitted" in res.stderr
    inspect = daemon.docker("inspect", "--format", "{{json .HostConfig.Devices}}", name, check=True)
    assert b'"PathInContainer":"/dev/myfuse"' in inspect.stdout
    assert b'"CgroupPermissions":"r"' in inspect.stdout


def test_device_cgroup_rule_allows_a_mknod_node(daemon: Daemon) -> None:
    res = daemon.docker("run", "--rm", "--device-cgroup-rule", "c 10:229 rw", "busybox", "sh", "-c",
                        f"mknod /tmp/f c 10 229 && {_open('rw', '/tmp/f')}")
    assert res.returncode == 0 and b"opened" in res.stdout, res.stderr


def test_missing_device_fails_at_start_like_docker(daemon: Daemon, names: list[str]) -> None:
    name = f"dev-{uuid.uuid4().hex[:8]}"
    names.append(name)
    daemon.docker("create", "--name", name, "--device", "/dev/berth-no-such-node", "busybox",
                  "true", check=True)
    res = daemon.docker("start", name)
    assert res.returncode != 0
    assert (b'error gathering device information while adding custom device '
            b'"/dev/berth-no-such-node": no such file or directory') in res.stderr
    state = daemon.docker("inspect", "--format", "{{.State.Status}}", name, check=True)
    assert state.stdout.strip() == b"created"


def test_bad_device_requests_are_refused(client: docker.DockerClient) -> None:
    before = {c.id for c in client.containers.list(all=True)}
    bad_hc = [
        {"Devices": [{"PathOnHost": FUSE, "PathInContainer": "/dev/f", "CgroupPermissions": "rwx"}]},
        {"Devices": [{"PathOnHost": "dev/fuse", "PathInContainer": "/dev/f", "CgroupPermissions": "r"}]},
        {"DeviceCgroupRules": ["c 10:229 rwx"]},
        {"GroupAdd": ["a,b"]},
        {"Sysctls": {"kernel.hostname": "x"}},
        {"Sysctls": {"net.ipv4.ip_forward": "1"}, "NetworkMode": "host"},
    ]
    for hc in bad_hc:
        with pytest.raises(docker.errors.APIError) as err:
            client.api.create_container("busybox", "true", host_config=hc)
        assert err.value.status_code == 400, hc
        assert err.value.explanation, hc
    assert {c.id for c in client.containers.list(all=True)} == before


def test_privileged_gets_the_host_devices(daemon: Daemon) -> None:
    res = daemon.docker("run", "--rm", "--privileged", "busybox", "sh", "-c",
                        f"ls -l {FUSE} /dev/loop-control; {_open('rw', FUSE)}")
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    assert "10, 229" in out and "10, 237" in out and "opened" in out


def test_group_add_numeric_and_by_name(daemon: Daemon) -> None:
    res = daemon.docker("run", "--rm", "--group-add", "10", "--group-add", "nobody", "busybox",
                        "id", "-G", check=True)
    assert res.stdout.split() == [b"0", b"10", b"65534"]
    res = daemon.docker("run", "--rm", "--user", "1000", "--group-add", "10", "busybox", "id",
                        check=True)
    assert res.stdout.strip() == b"uid=1000 gid=0(root) groups=0(root),10"


def test_exec_gets_the_added_groups(daemon: Daemon, names: list[str]) -> None:
    name = f"grp-{uuid.uuid4().hex[:8]}"
    names.append(name)
    daemon.docker("run", "-d", "--name", name, "--group-add", "nobody", "busybox", "sleep", "60",
                  check=True)
    res = daemon.docker("exec", name, "grep", "Groups", "/proc/self/status", check=True)
    assert res.stdout.split()[1:] == [b"65534"]


def test_group_add_unknown_name(daemon: Daemon) -> None:
    res = daemon.docker("run", "--rm", "--group-add", "berth-no-such-group", "busybox", "id")
    assert res.returncode != 0
    assert b"Unable to find group berth-no-such-group: no matching entries in group file" in res.stderr


def test_namespaced_sysctls(daemon: Daemon) -> None:
    res = daemon.docker("run", "--rm", "--sysctl", "net.ipv4.ip_forward=1",
                        "--sysctl", "kernel.shmmni=1234", "busybox", "sh", "-c",
                        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni", check=True)
    assert res.stdout.split() == [b"1", b"1234"]
    with open("/proc/sys/kernel/shmmni") as f:
        assert f.read().strip() != "1234"  # the host's own value is untouched
