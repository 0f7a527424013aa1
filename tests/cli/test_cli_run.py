"""`berth run` / `create` / `start` against a live daemon: output, exit codes, stdin, errors."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.root


def test_run_rm_echo(daemon, names):
    name = names.new("echo")
    r = daemon.berth("run", "--rm", "--name", name, "busybox", "echo", "hello world")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"hello world\n", b"")
    # --rm: gone once run returned (wait?condition=removed)
    assert daemon.berth("ps", "-aq", "--filter", f"name={name}").stdout == b""


def test_run_stdout_and_stderr_are_separated(daemon):
    r = daemon.berth("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"out\n", b"err\n")


@pytest.mark.parametrize(("cmd", "code"), [(["sh", "-c", "exit 3"], 3), (["true"], 0),
                                           (["sh", "-c", "exit 255"], 255)])
def test_run_exit_codes(daemon, cmd, code):
    assert daemon.berth("run", "--rm", "busybox", *cmd).returncode == code


def test_missing_command_is_127(daemon, names):
    name = names.new("missing")
    r = daemon.berth("run", "--name", name, "busybox", "no-such-command")
    assert r.returncode == 127
    assert r.stderr.startswith(b"docker: Error response from daemon: ")
    assert b"no-such-command" in r.stderr


def test_unknown_image_is_125_with_clear_message(daemon):
    # The pull that follows must fail on this machine: a registry on a closed loopback port.
    r = daemon.berth("run", "--rm", "127.0.0.1:9/no-such-image-berth:nope", "true", timeout=120)
    assert r.returncode == 125
    assert b"Unable to find image '127.0.0.1:9/no-such-image-berth:nope' locally" in r.stderr
    assert b"docker: " in r.stderr


def test_stdin_is_forwarded_and_closed(daemon):
    r = daemon.berth("run", "-i", "--rm", "busybox", "cat", input=b"data\nmore\n")
    assert (r.returncode, r.stdout) == (0, b"data\nmore\n")
    r = daemon.berth("run", "-i", "--rm", "busybox", "wc", "-c", input=b"x" * 100000)
    assert r.returncode == 0 and r.stdout.strip() == b"100000"


def test_without_i_stdin_is_not_attached(daemon):
    r = daemon.berth("run", "--rm", "busybox", "cat", input=b"ignored\n")
    assert (r.returncode, r.stdout) == (0, b"")


def test_env_workdir_user_hostname(daemon, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("FROM_FILE=f\n")
    r = daemon.berth("run", "--rm", "-e", "A=1", "--env-file", str(env_file), "-w", "/tmp",
                     "-u", "nobody", "-h", "myhost", "busybox", "sh", "-c",
                     "echo $A $FROM_FILE $(pwd) $(id -u) $(hostname)")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"1 f /tmp 65534 myhost\n"


def test_entrypoint_override(daemon):
    r = daemon.berth("run", "--rm", "--entrypoint", "echo", "busybox", "via", "entrypoint")
    assert (r.returncode, r.stdout) == (0, b"via entrypoint\n")


def test_duplicate_name_conflicts(daemon, names):
    name = names.new("dup")
    assert daemon.berth("create", "--name", name, "busybox", "true").returncode == 0
    # docker 28's create reports a daemon error as is, with status 1 (run: "docker: ", 125).
    r = daemon.berth("create", "--name", name, "busybox", "true")
    assert r.returncode == 1 == daemon.docker("create", "--name", name, "busybox", "true").returncode
    assert r.stderr.startswith(b"Error response from daemon: Conflict.")
    assert f'"/{name}" is already in use'.encode() in r.stderr
    r = daemon.berth("run", "--name", name, "busybox", "true")
    assert r.returncode == 125 and r.stderr.startswith(b"docker: Error response from daemon: Conflict.")


@pytest.mark.parametrize("bad", ["-bad", "a b", "x/y", "ü"])
def test_invalid_name_fails_like_docker(daemon, bad):
    r = daemon.berth("create", "--name", bad, "busybox", "true")
    assert r.returncode == daemon.docker("create", "--name", bad, "busybox", "true").returncode != 0
    assert b"Invalid container name" in r.stderr or b"invalid" in r.stderr.lower()


def test_invalid_reference_and_flags_are_125(daemon):
    r = daemon.berth("run", "--rm", "Not_Valid:Ref!", "true")
    assert r.returncode == 125 and b"invalid reference format" in r.stderr
    r = daemon.berth("run", "--no-such-flag", "busybox")
    assert r.returncode == 125 and b"unrecognized arguments" in r.stderr
    r = daemon.berth("run")
    assert r.returncode == 125 and b"requires at least 1 argument" in r.stderr


def test_create_then_start_attach(daemon, names):
    name = names.new("create")
    r = daemon.berth("create", "--name", name, "busybox", "sh", "-c", "echo started; exit 4")
    assert r.returncode == 0
    cid = r.stdout.strip().decode()
    assert len(cid) == 64
    r = daemon.berth("start", "-a", name)
    assert (r.returncode, r.stdout) == (4, b"started\n")
    r = daemon.berth("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name)
    assert r.stdout == b"exited 4\n"


def test_start_interactive(daemon, names):
    name = names.new("starti")
    assert daemon.berth("create", "-i", "--name", name, "busybox", "cat").returncode == 0
    r = daemon.berth("start", "-ai", name, input=b"through start\n")
    assert (r.returncode, r.stdout) == (0, b"through start\n")
