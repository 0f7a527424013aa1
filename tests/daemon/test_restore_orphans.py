"""What berthd's start collects that a crash left without a container record to own it: a
create killed just before its record (its endpoints, its anonymous volume), a ``rm -v``
killed between the record and the volumes, a shim state dir whose record is gone (with a
live shim, whose container is killed, or with none), and a build's RUN container after
berthd died mid-build. What the user keeps stays: a volume of a container removed without
``-v`` or mounted by another, a container a ``--rm=false`` build kept, running ones.

The crashes are real: berthd SIGKILLs itself at the create's or removal's step
(BERTH_CRASH_AT) or is killed -9 mid-build; a lost record is deleted with sqlite3 while
berthd is down."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.baseimages import ensure_base_images
from tests.conftest import Daemon, start_berthd
from tests.daemon.helpers import alive, eventually, forget_container, inspect

pytestmark = pytest.mark.root


def _start(base: Path, crash: str = "") -> Daemon:
    old = os.environ.pop("BERTH_CRASH_AT", None)
    if crash:
        os.environ["BERTH_CRASH_AT"] = crash
    try:
        return start_berthd(base)
    finally:
        os.environ.pop("BERTH_CRASH_AT", None)
        if old is not None:
            os.environ["BERTH_CRASH_AT"] = old


def _rows(d: Daemon, sql: str) -> list[tuple[str, ...]]:
    db = sqlite3.connect(f"file:{d.data_root / 'berth.db'}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def _cgroup_dirs(d: Daemon, cid: str) -> list[Path]:
    return [p for p in Path("/sys/fs/cgroup").glob(f"*/{d.cgroup_parent}/{cid}") if p.is_dir()]


def _kill9(d: Daemon) -> None:
    assert d.process is not None
    d.process.send_signal(signal.SIGKILL)
    d.process.wait()


def test_create_killed_before_its_record_and_a_lost_record_leave_nothing(
        own_daemon: tuple[Path, list[Daemon]]) -> None:
    base, started = own_daemon
    d = _start(base)
    started.append(d)
    ensure_base_images(d.host)
    net = "orphans-net"
    d.docker("network", "create", net, check=True)
    d.docker("run", "-d", "--name", "lost", "busybox", "sleep", "1000", check=True)
    d.docker("run", "-d", "--name", "keep", "busybox", "sleep", "1000", check=True)
    d.docker("create", "--name", "kept", "-v", "/k", "busybox", "true", check=True)
    kept_volume = next(m["Name"] for m in inspect(d, "kept")["Mounts"])
    d.docker("rm", "kept", check=True)  # without -v: its anonymous volume stays, as in Docker
    lost, keep = inspect(d, "lost"), inspect(d, "keep")
    volumes_before = {r[0] for r in _rows(d, "SELECT name FROM volumes")}

    # The create dies after its snapshot, endpoint, volume and bundle, before its record.
    _kill9(d)
    d = _start(base, crash="container:created")
    started.append(d)
    half = d.docker("create", "--name", "half", "--network", net, "-v", "/data", "busybox", "true")
    assert half.returncode != 0
    assert d.process is not None and d.process.wait(10) == -9
    assert not _rows(d, "SELECT id FROM containers WHERE name = 'half'")
    (net_id,) = _rows(d, f"SELECT id FROM networks WHERE name = '{net}'")[0]
    orphan_eps = _rows(d, "SELECT container_id FROM endpoints WHERE container_id NOT IN "
                          "(SELECT id FROM containers)")
    assert orphan_eps
    half_volumes = {r[0] for r in _rows(d, "SELECT name FROM volumes")} - volumes_before
    assert len(half_volumes) == 1

    # lost's record is gone while its shim runs; a dead shim's state dir has no record either.
    forget_container(d, lost["Id"])
    dead = d.exec_root / "containers" / ("d" * 64)
    dead.mkdir()
    (dead / "shim.json").write_text("{}")
    (dead / "exit.json").write_text('{"exit_code": 0}')
    lost_pid = lost["State"]["Pid"]
    assert alive(lost_pid) and _cgroup_dirs(d, lost["Id"])

    d = _start(base)
    started.append(d)
    assert not (d.exec_root / "containers" / lost["Id"]).exists()
    assert not dead.exists()
    eventually(lambda: not alive(lost_pid))
    eventually(lambda: not _cgroup_dirs(d, lost["Id"]))
    assert not _rows(d, "SELECT container_id FROM endpoints WHERE container_id NOT IN "
                        "(SELECT id FROM containers)")
    names = set(d.docker("volume", "ls", "-q", check=True).stdout.decode().split())
    assert not names & half_volumes
    assert kept_volume in names
    assert sorted(d.docker("ps", "-a", "--format", "{{.Names}}", check=True).stdout.decode()
                  .split()) == ["keep"]
    state = inspect(d, "keep")["State"]
    assert state["Running"] and state["Pid"] == keep["State"]["Pid"]
    assert (d.exec_root / "containers" / keep["Id"]).is_dir()
    # The network is free again (an endpoint left behind made this "has active endpoints").
    d.docker("network", "rm", net_id, check=True)
    # A create after the crash keeps its anonymous volume across a restart (settled).
    d.docker("create", "--name", "after", "-v", "/a", "busybox", "true", check=True)
    after_volume = next(m["Name"] for m in inspect(d, "after")["Mounts"])
    _kill9(d)
    d = _start(base)
    started.append(d)
    assert after_volume in d.docker("volume", "ls", "-q", check=True).stdout.decode().split()
    d.docker("rm", "-f", "-v", "keep", "after", check=True)
    d.docker("volume", "rm", kept_volume, check=True)


def test_rm_v_killed_before_the_volumes_went_leaves_none_but_used_ones(
        own_daemon: tuple[Path, list[Daemon]]) -> None:
    base, started = own_daemon
    d = _start(base, crash="container:removed")
    started.append(d)
    ensure_base_images(d.host)
    for args in (("--name", "solo", "-v", "/s"), ("--name", "shared", "-v", "/x"),
                 ("--name", "user", "--volumes-from", "shared")):
        d.docker("create", *args, "busybox", "true", check=True)
    solo = next(m["Name"] for m in inspect(d, "solo")["Mounts"])
    shared = next(m["Name"] for m in inspect(d, "shared")["Mounts"])

    # rm -v dies after the record went, before the volume did: the next start removes it.
    assert d.docker("rm", "-v", "solo").returncode != 0
    assert d.process is not None and d.process.wait(10) == -9
    assert (solo,) in _rows(d, "SELECT name FROM volumes")
    # A volume create killed between its mkdir and its commit leaves a directory no row names.
    (d.data_root / "volumes" / "half-made" / "_data").mkdir(parents=True)
    d = _start(base, crash="container:removed")
    started.append(d)
    assert solo not in d.docker("volume", "ls", "-q", check=True).stdout.decode().split()
    assert not (d.data_root / "volumes" / solo).exists()
    assert not (d.data_root / "volumes" / "half-made").exists()

    # The same crash for a volume another container mounts (volumes-from): it stays.
    assert d.docker("rm", "-v", "shared").returncode != 0
    assert d.process is not None and d.process.wait(10) == -9
    d = _start(base)
    started.append(d)
    assert shared in d.docker("volume", "ls", "-q", check=True).stdout.decode().split()
    assert d.docker("ps", "-a", "--format", "{{.Names}}", check=True).stdout.decode().split() == ["user"]
    d.docker("rm", "user", check=True)
    d.docker("volume", "rm", shared, check=True)


@pytest.fixture
def build_ctx(tmp_path: Path) -> Iterator[Path]:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    yield ctx


def _build(d: Daemon, ctx: Path, dockerfile: str, *args: str) -> subprocess.Popen[bytes]:
    (ctx / "Dockerfile").write_text(dockerfile)
    env = {**d.env, "DOCKER_BUILDKIT": "0"}
    return subprocess.Popen(["docker", "build", *args, str(ctx)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_a_build_killed_mid_run_leaves_no_step_container(
        own_daemon: tuple[Path, list[Daemon]], build_ctx: Path) -> None:
    base, started = own_daemon
    d = _start(base)
    started.append(d)
    ensure_base_images(d.host)
    kept = _build(d, build_ctx, "FROM busybox\nRUN echo kept > /kept\n", "--rm=false", "-t", "kept:1")
    out, _ = kept.communicate(timeout=60)
    assert kept.returncode == 0, out
    kept_ids = d.docker("ps", "-aq", "--no-trunc", check=True).stdout.decode().split()
    assert len(kept_ids) == 1

    build = _build(d, build_ctx, "FROM busybox\nRUN echo hi > /x && sleep 1000\n", "-t", "mid:1")
    try:
        def step_running() -> bool:
            return bool(d.docker("ps", "-q", check=True).stdout.strip())

        eventually(step_running, timeout=30)
        step = inspect(d, d.docker("ps", "-q", "--no-trunc", check=True).stdout.decode().strip())
        _kill9(d)
        build.communicate(timeout=30)
    finally:
        if build.poll() is None:
            build.kill()
        build.communicate()
    assert _rows(d, f"SELECT id FROM containers WHERE id = '{step['Id']}'")
    assert alive(step["State"]["Pid"])

    d = _start(base)
    started.append(d)
    assert d.docker("ps", "-aq", "--no-trunc", check=True).stdout.decode().split() == kept_ids
    assert not _rows(d, f"SELECT id FROM containers WHERE id = '{step['Id']}'")
    assert not _rows(d, f"SELECT key FROM snapshots WHERE key = 'container/{step['Id']}'")
    assert not (d.data_root / "containers" / step["Id"]).exists()
    assert not (d.exec_root / "containers" / step["Id"]).exists()
    eventually(lambda: not alive(step["State"]["Pid"]))
    # The kept container stays an ordinary one across a second restart too.
    _kill9(d)
    d = _start(base)
    started.append(d)
    assert d.docker("ps", "-aq", "--no-trunc", check=True).stdout.decode().split() == kept_ids
    d.docker("rm", *kept_ids, check=True)
