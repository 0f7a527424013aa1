"""A shim that does not answer (SIGSTOPped here, as a wedged one would be) does not keep
berthd's start from serving: its container is re-adopted once the shim answers again, and an
unrecorded container's silent shim is left alone (state, bundle, processes) instead of being
waited for. The old start waited for ever on the first such shim."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

import pytest

from tests.conftest import Daemon, start_berthd, stop_berthd
from tests.daemon.apihttp import request
from tests.daemon.helpers import boot, eventually, forget_container, inspect, parent_pid

pytestmark = pytest.mark.root


def test_a_stopped_shim_neither_holds_up_the_start_nor_loses_its_container(
        own_daemon: tuple[Path, list[Daemon]]) -> None:
    base, started = own_daemon
    d = boot(base, started)
    for name in ("frozen", "fine", "unrecorded"):
        d.docker("run", "-d", "--name", name, "busybox", "sleep", "1000", check=True)
    ids = {n: inspect(d, n)["Id"] for n in ("frozen", "fine", "unrecorded")}
    pids = {n: inspect(d, n)["State"]["Pid"] for n in ("frozen", "fine", "unrecorded")}
    shims = {n: parent_pid(pids[n]) for n in ("frozen", "unrecorded")}
    stop_berthd(d)
    forget_container(d, ids["unrecorded"])
    try:
        for shim in shims.values():
            os.kill(shim, signal.SIGSTOP)
        d = start_berthd(base)  # the old start never listened
        started.append(d)
        ps = d.docker("ps", "--format", "{{.Names}}", check=True).stdout.decode().split()
        assert sorted(ps) == ["fine", "frozen"]
        assert d.docker("exec", "fine", "echo", "ok", check=True).stdout == b"ok\n"
        # The unrecorded container's shim did not answer: nothing of it was touched.
        for what in (d.exec_root / "containers", d.data_root / "containers",
                     d.exec_root / "runtime"):
            assert (what / ids["unrecorded"]).is_dir(), what
        os.kill(pids["unrecorded"], 0)
        # Until its shim answers, the container cannot be removed from under its processes.
        r = d.docker("rm", "-f", "frozen")
        assert r.returncode == 1 and b"its shim does not answer" in r.stderr, r.stderr
        # Nor stopped, killed, exec'd into...: a 409 saying why, at once, and nothing done
        # (stop answered "already stopped" and succeeded, kill and exec "not running").
        for args in (("stop", "-t", "1", "frozen"), ("kill", "frozen"), ("restart", "frozen"),
                     ("exec", "frozen", "true"), ("pause", "frozen"), ("top", "frozen"),
                     ("update", "--cpu-shares", "512", "frozen")):
            r = d.docker(*args, timeout=20)
            assert r.returncode == 1 and b"its shim does not answer" in r.stderr, (args, r.stderr)
        # Stats read the container's cgroups, not its shim: its live numbers, at once (a private
        # dockerd's stats wait for containerd's stopped shim and never answer).
        out = d.docker("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "frozen",
                       timeout=20, check=True).stdout
        assert out == b"frozen 1\n", out
        status, _, body = request(str(d.socket), "GET", f"/containers/{ids['frozen']}/stats?stream=false")
        sample = json.loads(body)
        assert status == 200 and sample["pids_stats"]["current"] == 1, sample
        assert sample["memory_stats"]["usage"] > 0, sample
        state = inspect(d, "frozen")
        assert state["State"]["Running"] and state["HostConfig"]["CpuShares"] == 0, state
        assert (state["State"]["Pid"], parent_pid(pids["frozen"])) == (pids["frozen"], shims["frozen"])
        os.kill(pids["frozen"], 0)
        os.kill(shims["frozen"], signal.SIGCONT)
        # Re-adopted once its shim answers: exec and stop go through it.
        eventually(lambda: d.docker("exec", "frozen", "echo", "back").stdout == b"back\n")
        d.docker("stop", "-t", "1", "frozen", check=True)
        assert inspect(d, "frozen")["State"]["ExitCode"] == 137
    finally:
        for shim in shims.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(shim, signal.SIGCONT)
        # The unrecorded container is ended by the next start, now that its shim answers.
        stop_berthd(d)
        d = start_berthd(base)
        started.append(d)
        eventually(lambda: not (d.exec_root / "containers" / ids["unrecorded"]).exists())
    d.docker("rm", "-f", "frozen", "fine", check=True)
