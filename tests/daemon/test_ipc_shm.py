"""/dev/shm by IPC mode, through the real docker CLI, as a private dockerd gives it: a
container joining a shareable one's IPC namespace sees the same /dev/shm files, ``host``
binds the host's /dev/shm, ``none`` has none, the default is recorded as ``private``; and the
shareable container's host-side tmpfs goes away when it stops, when it is removed, and when
it died while berthd was down."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, start_berthd, stop_berthd
from tests.daemon.helpers import alive, boot, eventually, forget_container, inspect, new_name, ok, parent_pid

pytestmark = pytest.mark.root


def _mounted(path: Path) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == str(path) for line in f)


def test_joiners_share_the_donors_dev_shm(daemon: Daemon, names: list[str]) -> None:
    donor, joiner = new_name(names), new_name(names)
    ok(daemon.docker("run", "-d", "--name", donor, "--ipc", "shareable", "--shm-size", "2m",
                     "busybox", "sleep", "300"))
    donor_id = inspect(daemon, donor)["Id"]
    host_side = daemon.data_root / "containers" / donor_id / "mounts" / "shm"
    assert _mounted(host_side)
    ok(daemon.docker("exec", donor, "sh", "-c", "echo from-donor > /dev/shm/a"))
    ok(daemon.docker("run", "-d", "--name", joiner, "--ipc", f"container:{donor}", "busybox",
                     "sleep", "300"))
    assert ok(daemon.docker("exec", joiner, "cat", "/dev/shm/a")) == "from-donor\n"
    ok(daemon.docker("exec", joiner, "sh", "-c", "echo from-joiner > /dev/shm/b"))
    assert ok(daemon.docker("exec", donor, "cat", "/dev/shm/b")) == "from-joiner\n"
    # the donor's size and flags, as dockerd mounts it
    assert ok(daemon.docker("exec", joiner, "df", "-k", "/dev/shm")).split()[-5] == "2048"
    mount = ok(daemon.docker("exec", joiner, "grep", " /dev/shm ", "/proc/mounts"))
    assert {"nosuid", "nodev", "noexec"} <= set(mount.split()[3].split(",")), mount

    # the donor's stop unmounts its host side; the running joiner keeps the files it had
    ok(daemon.docker("stop", "-t", "0", donor))
    assert not _mounted(host_side)
    assert ok(daemon.docker("exec", joiner, "cat", "/dev/shm/a")) == "from-donor\n"
    # a start mounts a fresh one; the removal leaves no mount and no directory
    ok(daemon.docker("start", donor))
    assert _mounted(host_side)
    assert daemon.docker("exec", donor, "cat", "/dev/shm/a").returncode != 0
    ok(daemon.docker("rm", "-f", donor))
    assert not _mounted(host_side)
    assert not host_side.exists()


@pytest.fixture
def host_shm_file() -> Iterator[Path]:
    path = Path("/dev/shm") / f"berth-test-{uuid.uuid4().hex[:10]}"
    path.write_text("on-the-host\n")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def test_dev_shm_by_mode(daemon: Daemon, names: list[str], host_shm_file: Path) -> None:
    # host: the host's /dev/shm itself
    out = ok(daemon.docker("run", "--rm", "--ipc", "host", "busybox", "cat", str(host_shm_file)))
    assert out == "on-the-host\n"
    # none: no /dev/shm at all
    r = daemon.docker("run", "--rm", "--ipc", "none", "busybox", "ls", "-d", "/dev/shm")
    assert r.returncode == 1 and b"No such file or directory" in r.stderr, r.stderr
    # private (the default, recorded as such): a tmpfs of its own, not on the host
    name = new_name(names)
    ok(daemon.docker("run", "-d", "--name", name, "busybox", "sleep", "300"))
    assert inspect(daemon, name)["HostConfig"]["IpcMode"] == "private"
    assert daemon.docker("exec", name, "cat", str(host_shm_file)).returncode != 0
    mount = ok(daemon.docker("exec", name, "grep", " /dev/shm ", "/proc/mounts"))
    assert mount.split()[:3] == ["shm", "/dev/shm", "tmpfs"], mount
    assert not (daemon.data_root / "containers" / inspect(daemon, name)["Id"] / "mounts").exists()


def test_shm_of_a_container_that_died_while_berthd_was_down_is_unmounted(
        own_daemon: tuple[Path, list[Daemon]]) -> None:
    base, started = own_daemon
    d = boot(base, started)
    d.docker("run", "-d", "--name", "donor", "--ipc", "shareable", "busybox", "sleep", "1000",
             check=True)
    cid, pid = inspect(d, "donor")["Id"], inspect(d, "donor")["State"]["Pid"]
    host_side = d.data_root / "containers" / cid / "mounts" / "shm"
    assert _mounted(host_side)
    stop_berthd(d)
    for victim in (parent_pid(pid), pid):  # its shim, then its init
        os.kill(victim, signal.SIGKILL)
    eventually(lambda: not alive(pid))
    d = start_berthd(base)
    started.append(d)
    assert inspect(d, "donor")["State"]["Status"] == "exited"
    assert not _mounted(host_side)


def test_shm_mounts_no_record_owns_are_unmounted_at_start(
        own_daemon: tuple[Path, list[Daemon]]) -> None:
    """A berthd that died after losing a shareable container's record left its /dev/shm tmpfs
    mounted under the data root (the bundle's deletion then failed on it, after emptying it);
    one that died between a container's exit and the unmount left it too. The next start
    unmounts both; a running container's stays, with its files."""
    base, started = own_daemon
    d = boot(base, started)
    for name in ("lost", "owned"):
        d.docker("run", "-d", "--name", name, "--ipc", "shareable", "busybox", "sleep", "1000",
                 check=True)
    d.docker("run", "--name", "exited", "--ipc", "shareable", "busybox", "true", check=True)
    ids = {n: inspect(d, n)["Id"] for n in ("lost", "owned", "exited")}
    shm = {n: d.data_root / "containers" / cid / "mounts" / "shm" for n, cid in ids.items()}
    d.docker("exec", "owned", "sh", "-c", "echo kept > /dev/shm/f", check=True)
    assert _mounted(shm["lost"]) and _mounted(shm["owned"]) and not _mounted(shm["exited"])
    stop_berthd(d)
    forget_container(d, ids["lost"])
    # what a berthd killed between the exit's record and the unmount leaves
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=1777", "shm", str(shm["exited"])], check=True)
    d = start_berthd(base)
    started.append(d)
    assert not _mounted(shm["lost"])
    assert not shm["lost"].parents[1].exists()  # and its bundle went
    assert not _mounted(shm["exited"])
    assert _mounted(shm["owned"])
    assert ok(d.docker("exec", "owned", "cat", "/dev/shm/f")) == "kept\n"
    d.docker("start", "-a", "exited", check=True)  # a fresh one mounted again, and released
    assert not _mounted(shm["exited"])
