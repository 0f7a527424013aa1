"""The foundation flows driven by the real docker CLI against a private berthd."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.root


def _name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def _out(r: subprocess.CompletedProcess[bytes]) -> str:
    return r.stdout.decode()


def test_run_echo(daemon: Daemon) -> None:
    r = daemon.docker("run", "--rm", "busybox", "echo", "hi")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hi\n"


def test_exit_code_is_returned(daemon: Daemon) -> None:
    r = daemon.docker("run", "--rm", "busybox", "sh", "-c", "exit 3")
    assert r.returncode == 3


def test_missing_command_is_127(daemon: Daemon) -> None:
    name = _name()
    r = daemon.docker("run", "--name", name, "busybox", "no-such-command")
    assert r.returncode == 127, r.stderr
    assert b"executable file not found" in r.stderr
    state = _out(daemon.docker("inspect", "-f", "{{.State.ExitCode}}", name, check=True))
    assert state.strip() == "127"
    daemon.docker("rm", "-f", name, check=True)
    # with --rm the container that could not start is removed
    r = daemon.docker("run", "--rm", "--name", name, "busybox", "no-such-command")
    assert r.returncode == 127, r.stderr
    assert daemon.docker("inspect", name).returncode != 0


def test_unknown_image_is_a_clear_error(daemon: Daemon) -> None:
    # The CLI pulls a missing image: name a registry on a closed loopback port so the pull
    # fails here and no test traffic ever leaves the machine.
    r = daemon.docker("run", "--rm", "127.0.0.1:9/no-such-image-xyz", "true")
    assert r.returncode == 125
    assert b"Unable to find image '127.0.0.1:9/no-such-image-xyz:latest' locally" in r.stderr
    assert b"connection refused" in r.stderr.lower()


def test_container_sees_its_own_world(daemon: Daemon) -> None:
    name = _name()
    script = "echo pid=$$; hostname; ls /proc | grep -c '^[0-9]'"
    r = daemon.docker("run", "--rm", "--name", name, "--hostname", "boxy", "busybox",
                      "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    lines = _out(r).split()
    assert lines[0] == "pid=1"
    assert lines[1] == "boxy"
    # sh, ls, grep: a handful of processes, never the host's
    assert int(lines[2]) <= 4


def test_default_hostname_is_short_id(daemon: Daemon) -> None:
    cid = _out(daemon.docker("create", "busybox", "hostname", check=True)).strip()
    try:
        r = daemon.docker("start", "-a", cid)
        assert _out(r).strip() == cid[:12]
    finally:
        daemon.docker("rm", "-f", cid)


def test_writes_stay_in_their_container(daemon: Daemon) -> None:
    a = _name()
    r = daemon.docker("run", "--name", a, "busybox", "sh", "-c", "echo x > /etc/marker && cat /etc/marker")
    assert r.stdout == b"x\n", r.stderr
    r = daemon.docker("run", "--rm", "busybox", "cat", "/etc/marker")
    assert r.returncode != 0
    daemon.docker("rm", a, check=True)


def _host_mounts(daemon: Daemon) -> list[str]:
    # Other test sessions on this machine may be mounting under /tmp meanwhile: keep the
    # host's own mounts and this daemon's.
    mine = (str(daemon.data_root), str(daemon.exec_root))
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [ln for ln in lines if not ln.split()[4].startswith("/tmp/")
            or ln.split()[4].startswith(mine)]


def test_host_mount_table_unchanged(daemon: Daemon) -> None:
    before = _host_mounts(daemon)
    r = daemon.docker("run", "--rm", "--network", "none", "busybox", "sh", "-c", "mount | wc -l")
    assert r.returncode == 0, r.stderr
    assert int(_out(r)) > 3
    assert _host_mounts(daemon) == before


def test_detached_lifecycle(daemon: Daemon) -> None:
    name = _name()
    r = daemon.docker("run", "-d", "--name", name, "busybox", "sh", "-c",
                      "echo started; trap '' TERM; while true; do sleep 1; done")
    assert r.returncode == 0, r.stderr
    cid = _out(r).strip()
    assert len(cid) == 64
    ps = _out(daemon.docker("ps", "--no-trunc", check=True))
    assert cid in ps and name in ps and "Up " in ps
    logs = subprocess.Popen(["docker", "logs", "-f", name], env=daemon.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # rm of a running container without -f is a conflict
        r = daemon.docker("rm", name)
        assert r.returncode != 0 and b"cannot remove a running container" in r.stderr.lower()
        # a second container with the same name is a conflict
        r = daemon.docker("create", "--name", name, "busybox")
        assert r.returncode != 0 and b"already in use" in r.stderr
        t0 = time.monotonic()
        daemon.docker("stop", "-t", "1", name, check=True)
        assert time.monotonic() - t0 < 9  # fell back to SIGKILL instead of the default 10 s
        out, _ = logs.communicate(timeout=20)
        assert out == b"started\n"
    finally:
        if logs.poll() is None:
            logs.kill()
            logs.wait()
    status = _out(daemon.docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name,
                                check=True)).split()
    assert status == ["exited", "137"]
    ps = _out(daemon.docker("ps", "-a", "--filter", f"name={name}", check=True))
    assert "Exited (137)" in ps
    daemon.docker("rm", name, check=True)
    r = daemon.docker("inspect", name)
    assert r.returncode != 0 and b"No such object" in r.stderr


def test_stdin_with_i(daemon: Daemon) -> None:
    r = daemon.docker("run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z; echo done",
                      input=b"hello\nworld\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"HELLO\nWORLD\ndone\n"


def _run_in_pty(argv: list[str], env: dict[str, str], keys: bytes, timeout: float = 30) -> tuple[int, bytes]:
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, env)
    out = b""
    sent = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
                if b"\x1b[6n" in chunk:  # answer busybox's cursor query as a terminal would
                    os.write(fd, b"\x1b[1;1R")
            if not sent and (b"#" in out or time.monotonic() > deadline - timeout + 3):
                os.write(fd, keys)
                sent = True
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status), out
    finally:
        os.close(fd)
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def test_interactive_tty(daemon: Daemon) -> None:
    code, out = _run_in_pty(["docker", "run", "--rm", "-it", "busybox", "sh"], daemon.env,
                            b"tty; stty size; exit 7\r")
    assert code == 7, out
    assert b"/dev/pts/0" in out


def test_leaves_no_processes_after_rm(daemon: Daemon) -> None:
    cid = _out(daemon.docker("run", "-d", "busybox", "sleep", "1000", check=True)).strip()
    pid = int(_out(daemon.docker("inspect", "-f", "{{.State.Pid}}", cid, check=True)))
    assert pid > 0 and Path(f"/proc/{pid}").exists()
    daemon.docker("rm", "-f", cid, check=True)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert not list(daemon.exec_root.glob(f"containers/{cid}*"))
    assert not (daemon.data_root / "containers" / cid).exists()
    for ctrl in Path("/sys/fs/cgroup").iterdir():
        assert not (ctrl / daemon.cgroup_parent / cid).exists()


def test_ps_size_counts_the_writable_layer(daemon: Daemon) -> None:
    name = _name()
    daemon.docker("run", "--name", name, "busybox", "dd", "if=/dev/zero", "of=/blob", "bs=1000",
                  "count=100", check=True)
    try:
        out = _out(daemon.docker("ps", "-a", "-s", "--filter", f"name={name}", "--format",
                                 "{{.Size}}", check=True))
        assert out.startswith("100kB (virtual "), out
        raw = _out(daemon.docker("inspect", "-s", "-f", "{{.SizeRw}}", name, check=True))
        assert int(raw) == 100_000
    finally:
        daemon.docker("rm", name)


def test_image_defaults_apply(daemon: Daemon) -> None:
    # busybox's CMD is ["sh"]: no command given runs it, reading the script from stdin
    r = daemon.docker("run", "--rm", "-i", "busybox", input=b"echo from-default-cmd\n")
    assert r.stdout == b"from-default-cmd\n", r.stderr
    tag = f"env-image-{uuid.uuid4().hex[:8]}"
    from berth.testing.rootfs import busybox_rootfs_tar

    try:

        daemon.docker("import", "--change", "ENV GREETING=hello", "--change", "WORKDIR /tmp",
                      "--change", 'CMD ["sh", "-c", "echo $GREETING from $(pwd)"]', "-", tag,
                      input=busybox_rootfs_tar(), check=True)
        r = daemon.docker("run", "--rm", tag)
        assert r.stdout == b"hello from /tmp\n", r.stderr
        r = daemon.docker("run", "--rm", "-e", "GREETING=hi", tag)
        assert r.stdout == b"hi from /tmp\n", r.stderr
    finally:
        daemon.docker("rmi", tag)


def test_hello_world(daemon: Daemon) -> None:
    r = daemon.docker("run", "--rm", "hello-world")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"\nHello from berth!\n")


def test_process_settings(daemon: Daemon) -> None:
    r = daemon.docker("run", "--rm", "-e", "FOO=bar", "-w", "/tmp/work", "-u", "nobody",
                      "--entrypoint", "sh", "busybox", "-c", 'echo "$FOO $(pwd) $(id -u):$(id -g)"')
    assert r.stdout == b"bar /tmp/work 65534:65534\n", r.stderr
    r = daemon.docker("run", "--rm", "-u", "no-such-user", "busybox", "true")
    assert r.returncode != 0
    assert b"unable to find user no-such-user" in r.stderr


def test_network_modes(daemon: Daemon) -> None:
    r = daemon.docker("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net")
    assert r.stdout.split() == [b"lo"], r.stderr
    # Host networking means the host's own network namespace: compare the namespace itself
    # (interfaces come and go with whatever else runs on the machine).
    r = daemon.docker("run", "--rm", "--network", "host", "busybox", "readlink", "/proc/self/ns/net")
    assert r.stdout.decode().strip() == os.readlink("/proc/self/ns/net"), r.stderr
    r = daemon.docker("run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net")
    assert "lo" in r.stdout.decode().split() and len(r.stdout.split()) > 1, r.stderr
    r = daemon.docker("run", "--rm", "--network", "host", "busybox", "hostname")
    assert r.stdout.decode().strip() == os.uname().nodename


def test_killing_pid1_from_the_host_ends_the_container(daemon: Daemon) -> None:
    cid = _out(daemon.docker("run", "-d", "busybox", "sleep", "1000", check=True)).strip()
    try:
        pid = int(_out(daemon.docker("inspect", "-f", "{{.State.Pid}}", cid, check=True)))
        os.kill(pid, 9)
        assert _out(daemon.docker("wait", cid, check=True)).strip() == "137"
        status = _out(daemon.docker("inspect", "-f", "{{.State.Status}}", cid, check=True))
        assert status.strip() == "exited"
    finally:
        daemon.docker("rm", "-f", cid)
