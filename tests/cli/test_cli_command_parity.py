"""Other commands' flags against the docker CLI's, on the same berthd: ps filter forms, logs
--since/--until forms, and the flags berth refuses because berthd lacks what they ask for."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.root


def _result(r) -> tuple[int, set[bytes], bytes]:
    return r.returncode, set(r.stdout.split()), r.stderr


def test_ps_filter_forms_match_docker(daemon, names):
    web, db, other = names.new("web"), names.new("db"), names.new("other")
    assert daemon.berth("run", "--name", web, "-l", "tier=web", "-l", "team", "busybox",
                        "true").returncode == 0
    assert daemon.berth("run", "--name", db, "-l", "tier=db", "busybox", "sh", "-c",
                        "exit 3").returncode == 3
    assert daemon.berth("create", "--name", other, "--expose", "90", "busybox", "true").returncode == 0
    # berthd refuses the expose filter: both CLIs must report that the same way.
    filters = [["label=tier"], ["label=tier=web"], ["label=team"], ["label=tier", "label=team"],
               ["status=exited"], ["status=created"], ["exited=3"], ["exited=0", "label=tier"],
               [f"name={web}"], [f"name={db}", f"name={other}"], ["ancestor=busybox"],
               [f"before={other}", "label=tier"], [f"since={web}"], ["expose=90"],
               ["Label=tier=db"]]
    for fl in filters:
        args = ["ps", "-a", "-q", "--no-trunc"] + [x for f in fl for x in ("--filter", f)]
        assert _result(daemon.berth(*args)) == _result(daemon.docker(*args)), fl
    r = daemon.berth("ps", "-a", "--filter", "tier")
    assert r.returncode == daemon.docker("ps", "-a", "--filter", "tier").returncode != 0


def test_logs_since_until_forms_match_docker(daemon, names):
    name = names.new("logs")
    r = daemon.berth("run", "--name", name, "busybox", "sh", "-c", "echo one; echo two >&2")
    assert r.returncode == 0, r.stderr
    for flags in (["--since", "1h30m"], ["--since", "90s"], ["--until", "2000-01-01T00:00:00Z"],
                  ["--since", "2000-01-01"], ["--since", "0"], ["--until", "1.5h"], ["-n", "1"]):
        docker, berth = daemon.docker("logs", *flags, name), daemon.berth("logs", *flags, name)
        assert (berth.returncode, berth.stdout, berth.stderr) == \
            (docker.returncode, docker.stdout, docker.stderr), flags
    assert daemon.berth("logs", "--since", "yesterday", name).returncode != 0


@pytest.mark.parametrize("argv, flag", [
    (["logs", "--details", "x"], "--details"),
    (["pull", "-a", "busybox"], "--all-tags"),
    (["build", "-m", "64m", "."], "--memory"), (["build", "--squash", "."], "--squash"),
    (["build", "--add-host", "h:1.2.3.4", "."], "--add-host"),
    (["start", "--checkpoint", "c1", "x"], "--checkpoint"),
    (["update", "--cpu-rt-period", "1000", "x"], "--cpu-rt-period"),
    (["images", "--tree"], "--tree"), (["rmi", "--platform", "linux/arm64", "busybox"], "--platform"),
    (["push", "--platform", "linux/arm64", "busybox"], "--platform"),
])
def test_flags_berthd_cannot_honour_are_refused(daemon, argv, flag):
    r = daemon.berth(*argv)
    assert r.returncode == 125 and f"berth does not support {flag}".encode() in r.stderr


def test_boolean_flags_never_take_the_next_argument(daemon, names, tmp_path):
    """pflag booleans (commit -p, history -H, build --rm) leave the next argument alone and
    take a value only glued on (``-H=false``), as the docker CLI does."""
    for flags in (["-H"], ["-H=false"], ["--human=0"]):
        docker, berth = (cli("history", *flags, "busybox") for cli in (daemon.docker, daemon.berth))
        assert berth.returncode == docker.returncode == 0, (flags, berth.stderr)
        assert berth.stdout == docker.stdout, flags
    assert b" ago" not in daemon.berth("history", "-H=false", "busybox").stdout
    name = names.new("commit")
    assert daemon.berth("create", "--name", name, "busybox", "true").returncode == 0
    tag = f"berth-parity-commit:{name[-8:]}"
    r = daemon.berth("commit", "-p", name, tag)
    try:
        assert r.returncode == 0, r.stderr
        (tmp_path / "Dockerfile").write_text("FROM busybox\nLABEL parity=1\n")
        built = daemon.berth("build", "--rm", "--compress", "--disable-content-trust", "-q", "-t",
                             f"{tag}-built", str(tmp_path))
        assert built.returncode == 0, built.stderr
    finally:
        daemon.berth("rmi", tag, f"{tag}-built")
    r = daemon.berth("commit", "--pause=maybe", name, tag)
    assert r.returncode == 125 and b'strconv.ParseBool: parsing "maybe"' in r.stderr


def test_exec_and_kill_flags_match_docker(daemon, names, tmp_path):
    name = names.new("exec")
    assert daemon.berth("run", "-d", "--name", name, "busybox", "sleep", "60").returncode == 0
    (tmp_path / "env").write_text("FROM_FILE=1\n# comment\n")
    cases = [
        ["-e", "A=1", "--env-file", str(tmp_path / "env"), name, "sh", "-c", "echo $A $FROM_FILE"],
        ["-u", "nobody", "-w", "/tmp", name, "sh", "-c", "id -un; pwd"],
        ["-u", "1:2", name, "id"],
        ["--privileged", name, "sh", "-c", "grep CapEff /proc/self/status"],
        [name, "sh", "-c", "exit 7"],
        [name, "no-such-binary"],
        ["-w", "/nonexistent", name, "true"],
    ]
    for argv in cases:
        docker, berth = daemon.docker("exec", *argv), daemon.berth("exec", *argv)
        assert (berth.returncode, berth.stdout) == (docker.returncode, docker.stdout), (argv, docker, berth)
    for signal in ("USR1", "SIGUSR2", "10"):
        docker, berth = (cli("kill", "-s", signal, name) for cli in (daemon.docker, daemon.berth))
        assert berth.returncode == docker.returncode == 0, (signal, berth.stderr)
    docker, berth = (cli("kill", "-s", "NOPE", name) for cli in (daemon.docker, daemon.berth))
    assert berth.returncode == docker.returncode != 0
