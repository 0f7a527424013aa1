"""Exec gaps: inspect's ExecIDs lists a container's live execs as Docker does, and
`berth exec -t` follows the caller's terminal size (SIGWINCH), under both runtimes."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator

import docker
import pytest

from tests.cli.test_cli_tty import PtyCLI
from tests.conftest import Daemon

pytestmark = pytest.mark.root

_RUNTIMES = ["berth", *(["runc"] if shutil.which("runc") else [])]


@pytest.fixture
def sleeper(daemon: Daemon, request: pytest.FixtureRequest) -> Iterator[str]:
    runtime = getattr(request, "param", "berth")
    name = f"gap-exec-{uuid.uuid4().hex[:8]}"
    try:
        daemon.docker("run", "-d", "--runtime", runtime, "--name", name, "busybox", "sleep", "600",
                      check=True)
        yield name
    finally:
        daemon.docker("rm", "-f", name)


def _exec_ids(daemon: Daemon, name: str) -> object:
    out = daemon.docker("inspect", "-f", "{{json .ExecIDs}}", name, check=True).stdout
    return json.loads(out)


def test_exec_ids_lists_created_and_running_execs_only(daemon: Daemon, sleeper: str) -> None:
    assert _exec_ids(daemon, sleeper) is None  # Docker answers null, not []
    client = docker.DockerClient(base_url=daemon.host)
    try:
        api = client.api
        created = api.exec_create(sleeper, ["true"])["Id"]
        running = api.exec_create(sleeper, ["sleep", "30"])["Id"]
        api.exec_start(running, detach=True)
        finished = api.exec_create(sleeper, ["true"])["Id"]
        api.exec_start(finished)
        ids = _exec_ids(daemon, sleeper)
        assert isinstance(ids, list) and sorted(ids) == sorted([created, running]), ids
        assert api.inspect_container(sleeper)["ExecIDs"] == ids
        api.exec_start(created)
        deadline = time.monotonic() + 10
        while set(_exec_ids(daemon, sleeper) or []) != {running} and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _exec_ids(daemon, sleeper) == [running]
        # The finished exec can still be inspected; it is only gone from the container's list.
        assert api.exec_inspect(finished)["ExitCode"] == 0
    finally:
        client.close()


@pytest.mark.parametrize("sleeper", _RUNTIMES, indirect=True)
def test_berth_exec_t_follows_sigwinch(daemon: Daemon, sleeper: str) -> None:
    cli = PtyCLI(daemon, "exec", "-it", sleeper, "sh", rows=33, cols=101)
    try:
        cli.read_until(b"# ")
        cli.write(b"stty size\r")
        cli.read_until(b"33 101\r\n")
        cli.resize(44, 130)
        time.sleep(1.0)
        cli.write(b"stty size; exit 7\r")
        assert cli.wait() == 7
        assert b"44 130\r\n" in cli.output, cli.output
    finally:
        cli.close()
