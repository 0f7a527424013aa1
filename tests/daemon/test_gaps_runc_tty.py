"""--runtime runc with a terminal (runc's --console-socket) and the exec forms that need more
than runc's flags (a user name, --privileged): berth's runtime and runc must give the process
the same view."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.daemon.ptydocker import PtyDocker

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed")]

_TTY_PROBE = ("tty; [ -t 0 ] && echo stdin-tty; [ -t 1 ] && echo stdout-tty; "
              "ls -l /dev/console | awk '{print $1}'; stat -c '%u %g %a' $(tty)")


@pytest.fixture
def running(daemon: Daemon) -> Iterator[dict[str, str]]:
    """One running busybox container per runtime (with a passwd entry for a named user)."""
    names = {rt: f"gap-tty-{rt}-{uuid.uuid4().hex[:8]}" for rt in ("berth", "runc")}
    try:
        for rt, name in names.items():
            daemon.docker("run", "-d", "--runtime", rt, "--name", name, "busybox", "sh", "-c",
                          "echo 'app:x:1234:2345::/home/app:/bin/sh' >> /etc/passwd; "
                          "echo 'extra:x:3456:app' >> /etc/group; exec sleep 600", check=True)
        yield names
    finally:
        for name in names.values():
            daemon.docker("rm", "-f", name)


def test_tty_container_under_runc_matches_berth(daemon: Daemon) -> None:
    seen = {}
    for rt in ("berth", "runc"):
        r = daemon.docker("run", "--rm", "-t", "--runtime", rt, "busybox", "sh", "-c", _TTY_PROBE)
        assert r.returncode == 0, r.stderr
        seen[rt] = r.stdout.replace(b"\r\n", b"\n").decode()
    assert seen["runc"].startswith("/dev/pts/0\nstdin-tty\nstdout-tty\n"), seen
    assert seen["berth"] == seen["runc"]


@pytest.mark.parametrize("RT", ["berth", "runc"])
def test_interactive_tty_under_runc(daemon: Daemon, RT: str) -> None:
    name = f"gap-it-{uuid.uuid4().hex[:8]}"
    term = PtyDocker(daemon, "run", "-it", "--name", name, "--runtime", RT, "busybox", "sh",
                     rows=33, cols=101)
    try:
        # The CLI sends its size right after start: ask once the shell is up.
        term.read_until(b"# ")
        # The resize may land a moment after the prompt under load: ask until it shows.
        for i in range(40):
            term.write(f"stty size; echo done-{i}-$((6*7))\n".encode())
            term.read_until(f"done-{i}-42".encode())
            if b"33 101" in term.output:
                break
            time.sleep(0.25)
        assert b"33 101" in term.output, term.output.decode(errors="replace")
        term.write(b"exit 3\n")
        assert term.wait() == 3
    finally:
        term.close()
        daemon.docker("rm", "-f", name)


def test_exec_tty_user_privileged_same_under_both(daemon: Daemon, running: dict[str, str]) -> None:
    probes = {
        "tty": ("exec", "-t"),
        "user": ("exec", "-u", "app"),
        "usergroup": ("exec", "-u", "app:extra"),
        "privileged": ("exec", "--privileged"),
        "plain": ("exec",),
    }
    script = ("id; [ -t 1 ] && echo tty; echo HOME=$HOME; "
              "grep -E '^(CapBnd|CapEff|CapPrm|NoNewPrivs)' /proc/self/status")
    seen: dict[str, dict[str, str]] = {}
    for rt, name in running.items():
        for key, flags in probes.items():
            r = daemon.docker(*flags, name, "sh", "-c", script)
            assert r.returncode == 0, (rt, key, r.stderr)
            seen.setdefault(key, {})[rt] = r.stdout.replace(b"\r\n", b"\n").decode()
    for key, per_runtime in seen.items():
        assert per_runtime["berth"] == per_runtime["runc"], (key, per_runtime)
    assert "tty\n" in seen["tty"]["runc"] and "tty\n" not in seen["plain"]["runc"]
    assert seen["user"]["runc"].startswith("uid=1234(app) gid=2345") and "3456(extra)" in \
        seen["user"]["runc"]
    assert "HOME=/home/app" in seen["user"]["runc"]
    # --privileged: every capability the host lets berthd hand on.
    host_bounding = next(line.split()[1] for line in Path("/proc/self/status").read_text()
                         .splitlines() if line.startswith("CapBnd:"))
    assert f"CapEff:\t{host_bounding}" in seen["privileged"]["runc"], seen["privileged"]
    assert f"CapEff:\t{host_bounding}" not in seen["plain"]["runc"]


def test_exec_unknown_user_refused_alike(daemon: Daemon, running: dict[str, str]) -> None:
    seen = set()
    for name in running.values():
        r = daemon.docker("exec", "-u", "nosuchuser", name, "true")
        seen.add((r.returncode, (r.stdout + r.stderr).strip()))
    assert len(seen) == 1, seen
    code, message = seen.pop()
    assert code == 126 and b"unable to find user nosuchuser" in message


def test_exec_interactive_tty_resize_under_runc(daemon: Daemon, running: dict[str, str]) -> None:
    term = PtyDocker(daemon, "exec", "-it", running["runc"], "sh", rows=41, cols=77)
    try:
        term.read_until(b"# ")
        term.write(b"stty size; echo ok-$((5*5))\n")
        term.read_until(b"ok-25")
        assert b"41 77" in term.output
        term.write(b"exit 0\n")
        assert term.wait() == 0
    finally:
        term.close()


def test_named_user_container_same_under_both(daemon: Daemon) -> None:
    seen = {}
    for rt in ("berth", "runc"):
        r = daemon.docker("run", "--rm", "--runtime", rt, "-u", "nobody", "busybox", "sh", "-c",
                          "id; echo HOME=$HOME")
        assert r.returncode == 0, r.stderr
        seen[rt] = r.stdout
    assert seen["runc"] == seen["berth"]
    assert seen["runc"].startswith(b"uid=65534(nobody) gid=65534(nobody)"), seen
    for rt in ("berth", "runc"):
        r = daemon.docker("run", "--rm", "--runtime", rt, "-u", "nosuchuser", "busybox", "true")
        assert r.returncode != 0 and b"unable to find user nosuchuser" in r.stderr, r.stderr
