"""What a create records for what the docker CLI left out, as a private dockerd shows it in
inspect (CgroupnsMode host, PidsLimit and MemorySwappiness null for "unset", the masked and
read-only /proc paths unless privileged), and a client's own empty lists
(``--security-opt systempaths=unconfined``) are what the container gets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from berth.oci.specgen import DOCKER_MASKED_PATHS, DOCKER_READONLY_PATHS
from tests.conftest import Daemon
from tests.daemon.apihttp import request
from tests.daemon.helpers import inspect, new_name, ok

pytestmark = pytest.mark.root


def test_recorded_defaults(daemon: Daemon, names: list[str]) -> None:
    cases = [
        ([], (None, None, "host", list(DOCKER_MASKED_PATHS), list(DOCKER_READONLY_PATHS))),
        (["--pids-limit", "-1", "--memory-swappiness", "50"],
         (None, 50, "host", list(DOCKER_MASKED_PATHS), list(DOCKER_READONLY_PATHS))),
        (["--pids-limit", "5", "--cgroupns", "private"],
         (5, None, "private", list(DOCKER_MASKED_PATHS), list(DOCKER_READONLY_PATHS))),
        (["--privileged"], (None, None, "host", None, None)),
        (["--security-opt", "systempaths=unconfined"], (None, None, "host", [], [])),
    ]
    for flags, expected in cases:
        name = new_name(names)
        ok(daemon.docker("create", "--name", name, *flags, "busybox", "true"))
        hc = inspect(daemon, name)["HostConfig"]
        got = tuple(hc[k] for k in ("PidsLimit", "MemorySwappiness", "CgroupnsMode", "MaskedPaths",
                                    "ReadonlyPaths"))
        assert got == expected, flags


def test_systempaths_unconfined_unmasks_proc(daemon: Daemon) -> None:
    script = "grep ' /proc/' /proc/self/mounts | cut -d' ' -f2"
    assert {"/proc/sys", "/proc/keys"} <= set(ok(daemon.docker("run", "--rm", "busybox", "sh", "-c",
                                                            script)).split())
    out = ok(daemon.docker("run", "--rm", "--security-opt", "systempaths=unconfined", "busybox",
                           "sh", "-c", script))
    assert out.split() == []


def test_memory_swappiness_is_applied(daemon: Daemon) -> None:
    out = ok(daemon.docker("run", "--rm", "--memory-swappiness", "7", "busybox", "cat",
                           "/sys/fs/cgroup/memory/memory.swappiness"))
    assert out.strip() == "7"
    # the API refuses what the CLI would (dockerd's range check), and nothing is made
    before = ok(daemon.docker("ps", "-aq"))
    status, _, body = request(str(daemon.socket), "POST", "/containers/create",
                              {"Image": "busybox", "HostConfig": {"MemorySwappiness": 200}})
    assert status == 400
    assert json.loads(body)["message"] == "Invalid value: 200, valid memory swappiness range is 0-100"
    assert ok(daemon.docker("ps", "-aq")) == before


def test_inspect_of_a_created_container(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names)
    ok(daemon.docker("create", "--name", name, "busybox", "true"))
    info = inspect(daemon, name)
    paths = ("ResolvConfPath", "HostnamePath", "HostsPath", "LogPath")
    # named once a start set them up, as dockerd; unset omitempty fields are left out
    assert [info[k] for k in paths] == ["", "", "", ""]
    assert not {"Init", "Mounts", "Sysctls", "Tmpfs"} & set(info["HostConfig"]), info["HostConfig"]
    ok(daemon.docker("start", "-a", name))
    info = inspect(daemon, name)
    assert all(Path(info[k]).is_file() for k in paths), [info[k] for k in paths]
