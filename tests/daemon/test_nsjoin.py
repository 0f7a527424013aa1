"""``--pid container:X`` and ``--ipc container:X`` through the real docker CLI, with dockerd's
answers when the donor is missing, stopped or not shareable; and a create that names a missing
container or network is a 400, so the CLI does not take it for a missing image and pull."""

from __future__ import annotations

import os

import pytest

from tests.conftest import Daemon
from tests.daemon.helpers import inspect, new_name, ok

pytestmark = pytest.mark.root


def test_pid_and_ipc_join_a_running_donor(daemon: Daemon, names: list[str]) -> None:
    donor = new_name(names)
    ok(daemon.docker("run", "-d", "--name", donor, "--ipc", "shareable", "busybox", "sleep", "300"))
    donor_pid = inspect(daemon, donor)["State"]["Pid"]
    out = ok(daemon.docker("run", "--rm", "--pid", f"container:{donor}", "busybox", "ps", "-o",
                           "pid,args"))
    assert "1 sleep 300" in out, out
    out = ok(daemon.docker("run", "--rm", "--ipc", f"container:{donor}", "busybox", "readlink",
                           "/proc/self/ns/ipc"))
    assert out.strip() == os.readlink(f"/proc/{donor_pid}/ns/ipc")
    # the donor is recorded by its full ID, as dockerd does
    joiner = new_name(names)
    ok(daemon.docker("create", "--name", joiner, "--pid", f"container:{donor}",
                     "--ipc", f"container:{donor}", "busybox", "true"))
    hc = inspect(daemon, joiner)["HostConfig"]
    donor_id = inspect(daemon, donor)["Id"]
    assert hc["PidMode"] == hc["IpcMode"] == f"container:{donor_id}"


def test_join_refusals(daemon: Daemon, names: list[str]) -> None:
    private, stopped = new_name(names), new_name(names)
    ok(daemon.docker("run", "-d", "--name", private, "busybox", "sleep", "300"))
    ok(daemon.docker("create", "--name", stopped, "--ipc", "shareable", "busybox", "true"))
    private_id, stopped_id = inspect(daemon, private)["Id"], inspect(daemon, stopped)["Id"]
    cases = [
        (["--ipc", f"container:{private}"],
         f"can't join IPC of container {private_id}: non-shareable IPC (hint: use "
         "IpcMode:shareable for the donor container)"),
        (["--ipc", f"container:{stopped}"],
         f"can't join IPC of container {stopped_id}: container {stopped_id} is not running"),
        (["--pid", f"container:{stopped}"], f"container {stopped_id} is not running"),
        (["--ipc", "container:nosuch-donor"], "No such container: nosuch-donor"),
        (["--pid", "container:nosuch-donor"], "No such container: nosuch-donor"),
        (["--volumes-from", "nosuch-donor"], "No such container: nosuch-donor"),
        (["--network", "container:nosuch-donor"], "No such container: nosuch-donor"),
        (["--network", "nosuch-net"], "network nosuch-net not found"),
        (["--ipc", "bogus"], "Invalid IPC mode: bogus"),
        (["--ipc", "container:"], 'can\'t join IPC of container : invalid name or ID supplied: ""'),
        (["--network", "container:"],
         "Invalid network mode: invalid container format container:<name|id>"),
    ]
    for flags, message in cases:
        name = new_name(names)
        r = daemon.docker("run", "--rm", "--name", name, *flags, "busybox", "true")
        assert r.returncode == 125, (flags, r.stderr)
        assert f"Error response from daemon: {message}".encode() in r.stderr, (flags, r.stderr)
        assert b"Unable to find image" not in r.stderr, (flags, r.stderr)
