"""A berthd restart keeps every image and container, and re-adopts running containers."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.baseimages import ensure_base_images
from berth.shim.exitfile import EXIT_FILE
from tests.conftest import Daemon, start_berthd, stop_berthd
from tests.daemon.helpers import eventually

pytestmark = pytest.mark.root


def _restart(base: Path, started: list[Daemon]) -> Daemon:
    if started:
        stop_berthd(started[-1])
    d = start_berthd(base)
    started.append(d)
    return d


def test_state_survives_restart(own_daemon: tuple[Path, list[Daemon]]) -> None:
    base, started = own_daemon
    d = _restart(base, started)
    ensure_base_images(d.host)
    d.docker("create", "--name", "made", "busybox", "echo", "from-created", check=True)
    d.docker("run", "--name", "ran", "busybox", "sh", "-c", "echo ran; exit 4")
    running = d.docker("run", "-d", "--name", "live", "busybox", "sleep", "1000",
                       check=True).stdout.decode().strip()
    # exits while berthd is down: its shim must record the status for the next berthd
    short = d.docker("run", "-d", "--name", "short", "busybox", "sh", "-c", "sleep 2; exit 5",
                     check=True).stdout.decode().strip()
    images_before = d.docker("images", "-q", check=True).stdout

    stop_berthd(d)
    # Until short's shim has recorded its exit (it still runs at the stop: it sleeps 2 s).
    assert (d.exec_root / "containers" / short).is_dir()
    eventually(lambda: (d.exec_root / "containers" / short / EXIT_FILE).exists())
    d = _restart(base, started)

    assert d.docker("images", "-q", check=True).stdout == images_before
    ps = d.docker("ps", "-a", "--format", "{{.Names}} {{.Status}}", check=True).stdout.decode()
    states = dict(line.split(" ", 1) for line in ps.splitlines())
    assert states["made"] == "Created"
    assert states["ran"].startswith("Exited (4)")
    assert states["live"].startswith("Up ")
    assert states["short"].startswith("Exited (5)")
    # everything is still usable
    assert d.docker("start", "-a", "made", check=True).stdout == b"from-created\n"
    assert d.docker("logs", "ran", check=True).stdout == b"ran\n"
    d.docker("stop", "-t", "0", "live", check=True)
    code = d.docker("inspect", "-f", "{{.State.ExitCode}}", running, check=True).stdout.strip()
    assert code == b"137"
    assert d.docker("run", "--rm", "busybox", "echo", "ok", check=True).stdout == b"ok\n"
    d.docker("rm", "-f", "made", "ran", "live", "short", check=True)
