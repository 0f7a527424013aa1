"""Seccomp through the docker CLI and SDK: the default profile, a profile file, unconfined,
--privileged, exec'd processes, and refusals of bad profiles."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import docker
import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.root


def _seccomp_mode(out: bytes) -> str:
    for line in out.decode().splitlines():
        if line.startswith("Seccomp:"):
            return line.split()[1]
    raise AssertionError(out)


def test_default_profile_is_loaded_and_filters(daemon: Daemon) -> None:
    res = daemon.docker("run", "--rm", "busybox", "grep", "Seccomp", "/proc/self/status", check=True)
    assert _seccomp_mode(res.stdout) == "2"  # SECCOMP_MODE_FILTER
    # unshare needs CAP_SYS_ADMIN in the profile; the filter answers EPERM.
    res = daemon.docker("run", "--rm", "busybox", "unshare", "-r", "true")
    assert res.returncode != 0
    assert b"Operation not permitted" in res.stderr


def test_unconfined_and_privileged_have_no_filter(daemon: Daemon) -> None:
    for flags in (["--security-opt", "seccomp=unconfined"], ["--privileged"]):
        res = daemon.docker("run", "--rm", *flags, "busybox", "grep", "Seccomp", "/proc/self/status",
                            check=True)
        assert _seccomp_mode(res.stdout) == "0", flags


def test_profile_file_from_the_cli(daemon: Daemon, tmp_path: Path) -> None:
    profile = tmp_path / "no-mkdir.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
    }))
    res = daemon.docker("run", "--rm", "--security-opt", f"seccomp={profile}", "busybox",
                        "mkdir", "/tmp/x")
    assert res.returncode == 1
    assert b"Permission denied" in res.stderr  # errnoRet 13 = EACCES
    ok = daemon.docker("run", "--rm", "--security-opt", f"seccomp={profile}", "busybox",
                       "touch", "/tmp/x", check=False)
    assert ok.returncode == 0, ok.stderr


def test_exec_gets_the_container_filter(daemon: Daemon, names: list[str], tmp_path: Path) -> None:
    name = f"sc-{uuid.uuid4().hex[:10]}"
    names.append(name)
    profile = tmp_path / "no-mkdir.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}))
    daemon.docker("run", "-d", "--name", name, "--security-opt", f"seccomp={profile}", "busybox",
                  "sleep", "300", check=True)
    res = daemon.docker("exec", name, "mkdir", "/tmp/y")
    assert res.returncode == 1 and b"Operation not permitted" in res.stderr
    res = daemon.docker("exec", name, "grep", "Seccomp", "/proc/self/status", check=True)
    assert _seccomp_mode(res.stdout) == "2"


def test_cap_add_sys_admin_opens_the_profile_rules(daemon: Daemon) -> None:
    res = daemon.docker("run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c",
                        "mkdir /tmp/m && mount -t tmpfs none /tmp/m && echo mounted")
    assert res.returncode == 0, res.stderr
    assert b"mounted" in res.stdout


def test_bad_profiles_are_refused_at_create(daemon: Daemon) -> None:
    client = docker.DockerClient(base_url=daemon.host)
    try:
        before = len(client.containers.list(all=True))
        for opt, words in (("seccomp={not json", "Decoding seccomp profile failed"),
                           ('seccomp={"defaultAction": "SCMP_ACT_BOGUS"}', "unsupported action"),
                           ('seccomp={"defaultAction": "SCMP_ACT_ERRNO", "syscalls": '
                            '[{"names": ["read"], "action": "SCMP_ACT_ALLOW", '
                            '"args": [{"index": 9, "value": 0, "op": "SCMP_CMP_EQ"}]}]}',
                            "out of range")):
            with pytest.raises(docker.errors.APIError) as info:
                client.containers.create("busybox", "true", security_opt=[opt])
            assert info.value.status_code == 400, opt
            assert words in str(info.value.explanation), info.value.explanation
        assert len(client.containers.list(all=True)) == before
    finally:
        client.close()
