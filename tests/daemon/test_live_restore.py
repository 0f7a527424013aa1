"""Live restore: kill -9 berthd while several containers run. They keep running and logging,
one exits meanwhile (its code and time are recorded by its shim), and the next berthd
re-adopts them all: ps, logs -f, attach, exec and stop work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from berth.shim.exitfile import EXIT_FILE
from tests.conftest import Daemon, start_berthd
from tests.daemon.helpers import boot, eventually, inspect
from tests.daemon.ptydocker import PtyDocker

pytestmark = pytest.mark.root


def test_kill_9_berthd_and_readopt(own_daemon: tuple[Path, list[Daemon]]) -> None:
    base, started = own_daemon
    d = boot(base, started)
    d.docker("run", "-d", "--name", "ticker", "busybox", "sh", "-c",
             "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done", check=True)
    # quitter exits once told to (a file the test puts in its rootfs while berthd is down),
    # not after a fixed time that a loaded machine may spend before berthd is killed.
    d.docker("run", "-d", "--name", "quitter", "busybox", "sh", "-c",
             "until [ -e /go ]; do sleep 0.05; done; exit 42", check=True)
    d.docker("run", "-dit", "--name", "shell", "busybox", "sh", check=True)
    d.docker("run", "-d", "--name", "sleeper", "busybox", "sleep", "1000", check=True)
    pids = {n: inspect(d, n)["State"]["Pid"] for n in ("ticker", "shell", "sleeper")}
    quitter = inspect(d, "quitter")["Id"]
    quitter_pid = inspect(d, "quitter")["State"]["Pid"]
    killed_at = time.time()
    assert d.process is not None
    d.process.send_signal(signal.SIGKILL)
    d.process.wait()
    Path(f"/proc/{quitter_pid}/root/go").touch()
    # quitter exits while no berthd runs (its shim records it); ticker keeps logging
    eventually(lambda: (d.exec_root / "containers" / quitter / EXIT_FILE).exists())
    log = Path(_log_path(d, "ticker"))
    eventually(lambda: any(json.loads(x)["time"] > _rfc(killed_at + 1)  # complete lines only
                           for x in log.read_text().split("\n")[:-1]))
    for pid in pids.values():
        os.kill(pid, 0)  # still alive

    d = start_berthd(base)
    started.append(d)
    ps = d.docker("ps", "-a", "--format", "{{.Names}} {{.Status}}", check=True).stdout.decode()
    states = dict(line.split(" ", 1) for line in ps.splitlines())
    assert states["quitter"].startswith("Exited (42)")
    for n in ("ticker", "shell", "sleeper"):
        assert states[n].startswith("Up "), states
        assert inspect(d, n)["State"]["Pid"] == pids[n]
    q = inspect(d, "quitter")["State"]
    assert q["ExitCode"] == 42 and killed_at < _epoch(q["FinishedAt"]) < time.time()
    # logs -f follows the re-adopted container
    follow = subprocess.Popen(["docker", "logs", "-f", "--tail", "1", "ticker"], env=d.env,
                              stdout=subprocess.PIPE)
    try:
        assert follow.stdout is not None
        first = follow.stdout.readline()
        second = follow.stdout.readline()
        assert first.startswith(b"tick ") and second.startswith(b"tick ")
        assert int(second.split()[1]) == int(first.split()[1]) + 1
    finally:
        follow.kill()
        follow.wait()
        if follow.stdout is not None:
            follow.stdout.close()
    # exec and attach
    assert d.docker("exec", "sleeper", "echo", "in", check=True).stdout == b"in\n"
    cli = PtyDocker(d, "attach", "shell")
    try:
        cli.write(b"echo back-$((1+1))\r")
        cli.read_until(b"back-2")
        cli.write(b"\x10\x11")
        cli.wait()
    finally:
        cli.close()
    # stop works and records the exit
    d.docker("stop", "-t", "1", "ticker", "sleeper", check=True)
    assert inspect(d, "sleeper")["State"]["ExitCode"] == 137
    assert inspect(d, "ticker")["State"]["Status"] == "exited"


def _log_path(d: Daemon, name: str) -> str:
    # berthd is down: find the log through the data root (the bundle is named by the ID)
    for bundle in (d.data_root / "containers").iterdir():
        config = json.loads((bundle / "config.json").read_text())
        if "tick" in " ".join(config["process"]["args"]):
            return str(bundle / f"{bundle.name}-json.log")
    raise AssertionError(name)


def _rfc(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))


def _epoch(text: str) -> float:
    from berth.timefmt import parse_to_ns

    return parse_to_ns(text) / 1e9
