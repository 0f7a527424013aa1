"""exec through the real docker CLI, the docker SDK and raw HTTP: namespaces and cgroup
joined, -i/-it/-d/-u/-e/-w/--privileged, exit codes, errors and exec inspect."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.conftest import Daemon
from tests.daemon.apihttp import request
from tests.daemon.ptydocker import PtyDocker

pytestmark = pytest.mark.root


@pytest.fixture
def box(daemon: Daemon) -> Iterator[str]:
    """A running busybox container, removed afterwards."""
    name = f"x-{uuid.uuid4().hex[:10]}"
    daemon.docker("run", "-d", "--name", name, "-e", "BASE=1", "-w", "/home", "busybox",
                  "sleep", "1000", check=True)
    try:
        yield name
    finally:
        daemon.docker("rm", "-f", name)


def _pid(daemon: Daemon, name: str) -> int:
    r = daemon.docker("inspect", "-f", "{{.State.Pid}}", name)
    assert r.returncode == 0, r.stderr
    return int(r.stdout)


def test_exec_output_and_exit_code(daemon: Daemon, box: str) -> None:
    r = daemon.docker("exec", box, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.returncode == 3
    assert r.stdout == b"out\n"
    assert r.stderr == b"err\n"


def test_exec_joins_namespaces_and_cgroup(daemon: Daemon, box: str) -> None:
    init = _pid(daemon, box)
    r = daemon.docker("exec", box, "sh", "-c",
                      "echo $$; for n in pid mnt net uts ipc; do readlink /proc/self/ns/$n; done; "
                      "hostname; cat /proc/self/cgroup",
                      check=True)
    lines = r.stdout.decode().splitlines()
    assert int(lines[0]) > 1  # a pid in the container's pid namespace, not the host's
    for ns, line in zip(("pid", "mnt", "net", "uts", "ipc"), lines[1:6], strict=True):
        assert line == os.readlink(f"/proc/{init}/ns/{ns}")
    assert lines[6] == daemon.docker("inspect", "-f", "{{.Config.Hostname}}", box,
                                     check=True).stdout.decode().strip()
    init_cgroups = Path(f"/proc/{init}/cgroup").read_text()
    pids_line = next(line for line in init_cgroups.splitlines() if ":pids:" in line)
    # Inside, the container's cgroup namespace shows its own cgroup as the root.
    assert any(":pids:/" in line for line in lines[7:])
    assert pids_line.endswith(daemon.docker("inspect", "-f", "{{.Id}}", box,
                                            check=True).stdout.decode().strip())


def test_exec_user_env_workdir(daemon: Daemon, box: str) -> None:
    r = daemon.docker("exec", "-u", "1000:1001", "-e", "FOO=bar", "-w", "/tmp", box, "sh", "-c",
                      "id -u; id -g; echo $FOO $BASE; pwd", check=True)
    assert r.stdout == b"1000\n1001\n1 bar\n/tmp\n".replace(b"1 bar", b"bar 1")
    r = daemon.docker("exec", box, "pwd", check=True)
    assert r.stdout == b"/home\n"  # the container's working dir by default
    r = daemon.docker("exec", "-u", "nobody", box, "id", "-un", check=True)
    assert r.stdout == b"nobody\n"
    r = daemon.docker("exec", "-u", "nosuchuser", box, "true")
    assert r.returncode != 0
    assert b"unable to find user nosuchuser" in r.stdout + r.stderr


def test_exec_stdin(daemon: Daemon, box: str) -> None:
    r = daemon.docker("exec", "-i", box, "sh", "-c", "tr a-z A-Z; echo done", input=b"hello\n",
                      check=True)
    assert r.stdout == b"HELLO\ndone\n"


def test_exec_detached_runs_in_background(daemon: Daemon, box: str) -> None:
    daemon.docker("exec", "-d", box, "sh", "-c", "sleep 0.3; echo bg > /tmp/bg", check=True)
    deadline = time.monotonic() + 10
    out = b""
    while time.monotonic() < deadline:
        out = daemon.docker("exec", box, "cat", "/tmp/bg").stdout
        if out:
            break
        time.sleep(0.2)
    assert out == b"bg\n"


def test_exec_privileged_gets_every_capability(daemon: Daemon, box: str) -> None:
    def capeff(*flags: str) -> int:
        r = daemon.docker("exec", *flags, box, "grep", "CapEff", "/proc/self/status", check=True)
        return int(r.stdout.split()[1], 16)

    plain, priv = capeff(), capeff("--privileged")
    assert not plain & (1 << 21)  # CAP_SYS_ADMIN is not in Docker's default set
    assert priv & (1 << 21)
    assert priv & plain == plain


def test_exec_missing_command_and_errors(daemon: Daemon, box: str) -> None:
    r = daemon.docker("exec", box, "nosuchcmd")
    assert r.returncode == 126  # as dockerd: any exec that cannot start
    assert b'exec: "nosuchcmd": executable file not found in $PATH' in r.stdout + r.stderr
    r = daemon.docker("exec", box, "/etc")
    assert r.returncode == 126
    r = daemon.docker("exec", "-w", "/nonexist", box, "pwd")
    assert r.returncode == 126
    status, _, body = request(str(daemon.socket), "POST", f"/containers/{box}/exec", {"Cmd": []})
    assert status == 400 and b"message" in body
    status, _, _ = request(str(daemon.socket), "POST", "/containers/nosuch-ctr/exec",
                           {"Cmd": ["true"]})
    assert status == 404
    status, _, _ = request(str(daemon.socket), "GET", "/exec/" + "0" * 64 + "/json")
    assert status == 404


def test_exec_into_paused_or_stopped_is_409(daemon: Daemon, box: str) -> None:
    daemon.docker("pause", box, check=True)
    try:
        status, _, body = request(str(daemon.socket), "POST", f"/containers/{box}/exec",
                                  {"Cmd": ["true"]})
        assert status == 409
        assert b"is paused" in body
    finally:
        daemon.docker("unpause", box, check=True)
    daemon.docker("stop", "-t", "0", box, check=True)
    r = daemon.docker("exec", box, "true")
    assert r.returncode != 0 and b"is not running" in r.stderr


def test_exec_inspect_reports_exit_code(daemon: Daemon, box: str) -> None:
    sock = str(daemon.socket)
    status, _, body = request(sock, "POST", f"/containers/{box}/exec",
                              {"Cmd": ["sh", "-c", "exit 7"], "User": "1:1"})
    assert status == 201
    exec_id = json.loads(body)["Id"]
    info = json.loads(request(sock, "GET", f"/exec/{exec_id}/json")[2])
    assert info["Running"] is False and info["ExitCode"] is None
    assert info["ProcessConfig"] == {"tty": False, "entrypoint": "sh", "arguments": ["-c", "exit 7"],
                                     "privileged": False, "user": "1:1"}
    status, _, _ = request(sock, "POST", f"/exec/{exec_id}/start", {"Detach": True})
    assert status == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        info = json.loads(request(sock, "GET", f"/exec/{exec_id}/json")[2])
        if not info["Running"] and info["ExitCode"] is not None:
            break
        time.sleep(0.1)
    assert info["ExitCode"] == 7 and info["Pid"] > 0
    status, _, _ = request(sock, "POST", f"/exec/{exec_id}/start", {"Detach": True})
    assert status == 409


def test_exec_it_has_a_tty_and_resizes(daemon: Daemon, box: str) -> None:
    cli = PtyDocker(daemon, "exec", "-it", box, "sh", rows=33, cols=101)
    try:
        cli.read_until(b"# ")
        cli.write(b"tty; stty size; exit 4\r")
        assert cli.wait() == 4
        assert b"/dev/pts/" in cli.output
        assert b"33 101" in cli.output
    finally:
        cli.close()


def test_exec_detach_keys(daemon: Daemon, box: str) -> None:
    # Not an interactive shell: busybox sh asks the terminal for the cursor position (ESC[6n)
    # and would take typed keys for the answer.
    cli = PtyDocker(daemon, "exec", "-it", box, "sh", "-c", "sleep 1000 & echo ready; exec cat")
    try:
        cli.read_until(b"ready")
        cli.write(b"\x10\x11")
        # As against Docker: the CLI reports the detach and exits 1 (exec has no detach case).
        assert cli.wait() == 1
        assert b"read escape sequence" in cli.output
    finally:
        cli.close()
    top = daemon.docker("top", box, check=True).stdout
    assert b"sleep 1000" in top.replace(b"sleep                1000", b"sleep 1000")


def test_sdk_exec_run(daemon: Daemon, box: str) -> None:
    client = docker.DockerClient(base_url=daemon.host)
    try:
        c = client.containers.get(box)
        code, out = c.exec_run(["sh", "-c", "echo $X; exit 2"], environment={"X": "sdk"})
        assert (code, out) == (2, b"sdk\n")
        code, (out, err) = c.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
        assert (code, out, err) == (0, b"o\n", b"e\n")
    finally:
        client.close()
