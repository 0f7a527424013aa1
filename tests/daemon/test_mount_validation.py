"""Create settings Docker refuses (``--mount`` entries, a stop signal) are refused at create,
and an ``--rm`` container whose start fails before its process exists is removed (the docker
CLI waits for that removal)."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.daemon.helpers import boot, ok

pytestmark = pytest.mark.root


def _names(daemon: Daemon, *what: str) -> set[str]:
    return set(ok(daemon.docker(*what)).split())


@pytest.mark.parametrize(("mount", "message"), [
    ("type=foo,dst=/x", 'invalid mount config for type "foo": mount type unknown'),
    ("type=bind,dst=/x", 'invalid mount config for type "bind": field Source must not be empty'),
    ("type=bind,src=relative,dst=/x",
     "invalid mount config for type \"bind\": invalid mount path: 'relative' mount path must be absolute"),
    ("type=bind,src=/tmp,dst=/",
     "invalid mount config for type \"bind\": invalid specification: destination can't be '/'"),
    ("type=volume,dst=relative",
     "invalid mount config for type \"volume\": invalid mount path: 'relative' mount path must be absolute"),
    ("type=volume,dst=/x,ro",
     'invalid mount config for type "volume": must not set ReadOnly mode when using anonymous volumes'),
    ("type=tmpfs,src=/tmp,dst=/x",
     'invalid mount config for type "tmpfs": field Source must not be specified'),
    ("type=tmpfs,dst=relative",
     "invalid mount config for type \"tmpfs\": invalid mount path: 'relative' mount path must be absolute"),
])
def test_a_mount_docker_refuses_is_refused_at_create_and_changes_nothing(
        daemon: Daemon, mount: str, message: str) -> None:
    containers = _names(daemon, "ps", "-aq", "--no-trunc")
    volumes = _names(daemon, "volume", "ls", "-q")
    r = daemon.docker("create", "--mount", mount, "busybox", "true", timeout=30)
    assert r.returncode == 1
    assert f"Error response from daemon: {message}\n" in r.stderr.decode()
    assert _names(daemon, "ps", "-aq", "--no-trunc") == containers
    assert _names(daemon, "volume", "ls", "-q") == volumes


@pytest.mark.parametrize(("flags", "message"), [
    (("--cpus", "99"), f"Range of CPUs is from 0.01 to {os.cpu_count()}.00, as there are only "
                       f"{os.cpu_count()} CPUs available"),
    (("--memory", "1k"), "Minimum memory limit allowed is 6MB"),
])
def test_resource_limits_docker_refuses_are_refused_at_create(
        daemon: Daemon, flags: tuple[str, ...], message: str) -> None:
    containers = _names(daemon, "ps", "-aq", "--no-trunc")
    r = daemon.docker("create", *flags, "busybox", "true", timeout=30)
    assert r.returncode == 1
    assert message in r.stderr.decode()
    assert _names(daemon, "ps", "-aq", "--no-trunc") == containers


def test_an_unknown_stop_signal_is_refused_at_create(daemon: Daemon) -> None:
    containers = _names(daemon, "ps", "-aq", "--no-trunc")
    r = daemon.docker("run", "--rm", "--stop-signal", "FOO", "busybox", "true", timeout=30)
    assert r.returncode == 125
    assert "Error response from daemon: Invalid signal: FOO\n" in r.stderr.decode()
    assert _names(daemon, "ps", "-aq", "--no-trunc") == containers
    name = f"t-{uuid.uuid4().hex[:10]}"
    try:
        ok(daemon.docker("create", "--name", name, "--stop-signal", "SIGUSR1", "busybox", "true"))
    finally:
        daemon.docker("rm", "-f", name)


def test_rm_container_that_cannot_start_is_removed(daemon: Daemon) -> None:
    stopped, name = f"t-{uuid.uuid4().hex[:10]}", f"t-{uuid.uuid4().hex[:10]}"
    target = ok(daemon.docker("create", "--name", stopped, "busybox", "true")).strip()
    try:
        # Fails in berthd's start before any shim: the network namespace to join has no process.
        r = daemon.docker("run", "--rm", "--name", name, "--network", f"container:{stopped}",
                          "busybox", "true", timeout=30)
        assert r.returncode == 125
        assert f"cannot join network of a non running container: {target}" in r.stderr.decode()
        assert ok(daemon.docker("ps", "-aq", "--filter", f"name=^{name}$")) == ""
    finally:
        daemon.docker("rm", "-f", stopped, name)


def test_a_start_failing_before_its_shim_ends_the_attach(own_daemon: tuple[Path, list[Daemon]]) -> None:
    """``docker run`` attaches before it starts; a start that failed before the shim existed
    left that attach request waiting for good, and with it berthd's shutdown."""
    base, started = own_daemon
    d = boot(base, started)
    d.docker("create", "--name", "stopped", "busybox", "true", check=True)
    r = d.docker("run", "--name", "joiner", "--network", "container:stopped", "busybox", "true", timeout=30)
    assert r.returncode == 125
    assert b"cannot join network of a non running container" in r.stderr
    status = ok(d.docker("inspect", "-f", "{{.State.Status}} {{.State.Error}}", "joiner"))
    assert status.startswith("created cannot join network of a non running container")
    assert d.process is not None
    d.process.send_signal(signal.SIGTERM)
    try:
        d.process.wait(30)  # it never exited before the fix: nothing is timed here
    except subprocess.TimeoutExpired:
        pytest.fail("berthd did not stop: a request handler is still waiting")
