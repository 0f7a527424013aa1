"""Cgroups: the container's dirs, limits written from linux.resources and visible inside,
and the pure spec -> file-write mapping."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from berth.errors import RuntimeFailure
from berth.runtime import container
from berth.runtime.cgroups.manager import cgroup_mounts, detect, inner_path, own_cgroups
from berth.runtime.cgroups.resources import Write, v1_writes, v2_writes
from berth.testing.cgroups import remove_cgroup_tree
from tests.forked import check_in_child

from .conftest import Env, wait_exit


@pytest.mark.root
def test_limits_written_and_visible_inside(rt: Env) -> None:
    def mutate(spec: dict) -> None:
        spec["linux"]["resources"] = {
            "memory": {"limit": 64 * 1024 * 1024, "reservation": 32 * 1024 * 1024,
                       "kernelTCP": 16 * 1024 * 1024},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
            "pids": {"limit": 42},
            "blockIO": {"weight": 300},
        }

    bundle, mounts, _ = rt.bundle(["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                                   "/sys/fs/cgroup/pids/pids.max /proc/self/cgroup"],
                                  mutate=mutate)
    out = bundle / "out"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT)
    created = container.create(rt.options(bundle, mounts, stdout=fd))
    os.close(fd)
    cid = created.id
    try:
        base = Path("/sys/fs/cgroup")
        rel = f"{rt.cgroup_parent}/{cid}"
        assert (base / "memory" / rel / "memory.limit_in_bytes").read_text() == "67108864\n"
        assert (base / "memory" / rel / "memory.soft_limit_in_bytes").read_text() == "33554432\n"
        tcp = base / "memory" / rel / "memory.kmem.tcp.limit_in_bytes"
        assert not tcp.exists() or tcp.read_text() == "16777216\n"
        assert (base / "cpu" / rel / "cpu.shares").read_text() == "512\n"
        assert (base / "cpu" / rel / "cpu.cfs_quota_us").read_text() == "50000\n"
        assert (base / "cpuset" / rel / "cpuset.cpus").read_text() == "0\n"
        assert (base / "pids" / rel / "pids.max").read_text() == "42\n"
        created.start()
        assert wait_exit(created.pid) == 0
    finally:
        container.delete(rt.state_root, cid)
    lines = out.read_text().splitlines()
    assert lines[:2] == ["67108864", "42"]
    assert any(line.endswith(f":memory:/{rt.cgroup_parent}/{cid}") for line in lines[2:])
    assert not (Path("/sys/fs/cgroup/memory") / rt.cgroup_parent / cid).exists()


@pytest.mark.root
def test_pids_limit_enforced(rt: Env) -> None:
    def mutate(spec: dict) -> None:
        spec["linux"]["resources"] = {"pids": {"limit": 3}}

    r = rt.run(["sh", "-c", "for i in 1 2 3 4 5; do sleep 5 & done 2>&1; kill $(jobs -p) "
                "2>/dev/null; echo done"], mutate=mutate)
    assert "can't fork" in r.stdout + r.stderr or "Resource temporarily" in r.stdout + r.stderr


def test_v1_writes_order_and_units() -> None:
    writes = v1_writes({
        "memory": {"limit": 100, "swap": 200, "reservation": 50},
        "cpu": {"shares": 1024, "quota": 20000, "period": 100000, "cpus": "0-1", "mems": "0"},
        "pids": {"limit": -1},
        "devices": [{"allow": False, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 136, "access": "rwm"}],
    })
    assert writes == [
        Write("memory", "memory.limit_in_bytes", "100"),
        Write("memory", "memory.memsw.limit_in_bytes", "200", optional=True),
        Write("memory", "memory.soft_limit_in_bytes", "50"),
        Write("cpu", "cpu.shares", "1024"),
        Write("cpu", "cpu.cfs_period_us", "100000"),
        Write("cpu", "cpu.cfs_quota_us", "20000"),
        Write("cpuset", "cpuset.cpus", "0-1"),
        Write("cpuset", "cpuset.mems", "0"),
        Write("pids", "pids.max", "max"),
        Write("devices", "devices.deny", "a"),
        Write("devices", "devices.allow", "c 1:3 rwm"),
        Write("devices", "devices.allow", "c 136:* rwm"),
    ]


def test_v2_writes_conversions() -> None:
    writes = v2_writes({"memory": {"limit": 100, "swap": 300}, "cpu": {"shares": 1024,
                        "quota": 50000}, "pids": {"limit": 7}})
    assert writes == [
        Write("unified", "memory.max", "100"),
        Write("unified", "memory.swap.max", "200", optional=True),
        Write("unified", "cpu.weight", "39"),
        Write("unified", "cpu.max", "50000 100000"),
        Write("unified", "pids.max", "7"),
    ]


def test_inner_path_and_mount_parsing() -> None:
    # Cleaned as runc cleans it (checked against runc 1.1.5): ".." never climbs above the start.
    assert inner_path(None, "abc") == "/berth/abc"
    assert inner_path("/parent//abc/", "abc") == "/parent/abc"
    assert inner_path("/a/../p/./x", "abc") == "/p/x"
    assert inner_path("../escape/x", "abc") == "escape/x"
    assert inner_path("slice:prefix:name", "abc") == "slice:prefix:name"
    for bad in ("/", ".", "a/.."):
        with pytest.raises(RuntimeFailure, match="invalid cgroupsPath"):
            inner_path(bad, "abc")
    v1, unified = cgroup_mounts(
        "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
        "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n"
        "33 31 0:30 / /sys/fs/cgroup/net rw - cgroup cgroup rw,net_cls,net_prio\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n")
    assert v1 == {"cpu": "/sys/fs/cgroup/cpu", "systemd": "/sys/fs/cgroup/systemd",
                  "net_cls,net_prio": "/sys/fs/cgroup/net"}
    assert unified == "/sys/fs/cgroup/unified"


@pytest.mark.root
def test_existing_cgroup_is_joined(rt: Env) -> None:
    # The same cgroupsPath names the same place every time (OCI): a cgroup that is already
    # there (left by a container that was never deleted) is joined, as runc does.
    v1, _ = cgroup_mounts(Path("/proc/self/mountinfo").read_text())
    made: list[str] = []

    def mutate(spec: dict) -> None:
        made.append(spec["linux"]["cgroupsPath"].lstrip("/"))
        (Path(v1["pids"]) / made[0]).mkdir(parents=True)

    r = rt.run(["grep", "pids", "/proc/self/cgroup"], mutate=mutate)
    assert (r.status, r.stdout.split(":")[-1]) == (0, f"/{made[0]}\n"), r.stderr


@pytest.mark.root
def test_keep_warm_stops_when_released_and_leaves_the_process_in_place() -> None:
    # berth-runtime's priming thread (cli/main.py), in a child so the test process is never moved.
    import _thread
    import time

    from berth.runtime.cgroups.prime import keep_warm

    def check() -> bool:
        before = Path("/proc/self/cgroup").read_text()
        stop = _thread.allocate_lock()
        stop.acquire()
        done = _thread.allocate_lock()
        done.acquire()
        _thread.start_new_thread(lambda: (keep_warm(stop, 30.0), done.release()), ())
        time.sleep(0.05)
        started = time.monotonic()
        stop.release()
        finished = done.acquire(timeout=5)
        return (finished and time.monotonic() - started < 1
                and Path("/proc/self/cgroup").read_text() == before)

    check_in_child(check)


def test_v1_blkio_throttles_and_network_writes() -> None:
    dev = {"major": 8, "minor": 0}
    writes = v1_writes({"blockIO": {"weightDevice": [{**dev, "weight": 300}],
                                    "throttleReadBpsDevice": [{**dev, "rate": 1048576}],
                                    "throttleWriteIOPSDevice": [{**dev, "rate": 100}]},
                        "network": {"classID": 0x100001, "priorities": [{"name": "eth0", "priority": 5}]}})
    assert writes == [
        Write("blkio", "blkio.bfq.weight_device", "8:0 300", optional=True),
        Write("blkio", "blkio.throttle.read_bps_device", "8:0 1048576"),
        Write("blkio", "blkio.throttle.write_iops_device", "8:0 100"),
        Write("net_cls", "net_cls.classid", "1048577"),
        Write("net_prio", "net_prio.ifpriomap", "eth0 5"),
    ]
    assert v1_writes({"memory": {"kernelTCP": 4096}}) == [
        Write("memory", "memory.kmem.tcp.limit_in_bytes", "4096", optional=True)]
    assert v2_writes({"blockIO": {"throttleWriteBpsDevice": [{**dev, "rate": 5}]}}) == [
        Write("unified", "io.max", "8:0 wbps=5")]


@pytest.mark.root
def test_blkio_throttle_is_applied(rt: Env) -> None:
    st = os.stat("/")
    disk = {"major": os.major(st.st_dev), "minor": os.minor(st.st_dev)}

    def mutate(spec: dict) -> None:
        spec["linux"]["resources"] = {"blockIO": {"throttleReadBpsDevice": [{**disk, "rate": 4194304}]}}

    r = rt.run(["cat", "/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device"], mutate=mutate)
    assert (r.status, r.stdout) == (0, f"{disk['major']}:{disk['minor']} 4194304\n"), r.stderr


@pytest.mark.root
def test_network_class_id_needs_net_cls(rt: Env) -> None:
    # runc refuses a net_cls limit it cannot set; the create fails and leaves nothing.
    v1, _ = cgroup_mounts(Path("/proc/self/mountinfo").read_text())
    mounted = any("net_cls" in name.split(",") for name in v1)

    def mutate(spec: dict) -> None:
        spec["linux"]["resources"] = {"network": {"classID": 0x100001}}

    if mounted:
        r = rt.run(["cat", "/sys/fs/cgroup/net_cls/net_cls.classid"], mutate=mutate)
        assert r.stdout == "1048577\n"
        return
    bundle, mounts, _ = rt.bundle(["true"], mutate=mutate)
    with pytest.raises(RuntimeFailure, match="cgroup controller net_cls is not mounted"):
        container.create(rt.options(bundle, mounts))
    assert not (rt.state_root / rt.ids[-1]).exists()


def test_relative_cgroups_path_lands_where_runc_puts_it(tmp_path: Path) -> None:
    # runc 1.1.5 (cgroupfs, hybrid host), run from a shell in pids:/p and 0::/p with "../up/bar":
    # v1 dirs under its own cgroup (pids/p/up/bar, cpu/up/bar), unified under the root.
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "32 31 0:29 / /cg/cpu,cpuacct rw - cgroup cgroup rw,cpuacct,cpu\n"
        "33 31 0:30 / /cg/pids rw - cgroup cgroup rw,pids\n"
        "40 31 0:37 / /cg/systemd rw - cgroup cgroup rw,name=systemd\n"
        "41 31 0:38 / /cg/unified rw - cgroup2 cgroup2 rw\n")
    own = tmp_path / "cgroup"
    own.write_text("9:name=systemd:/s\n3:pids:/p\n2:cpu,cpuacct:/\n0::/p\n")
    m = detect("../up/bar", "abc", mountinfo, own)
    assert m.paths == {"cpuacct,cpu": "/cg/cpu,cpuacct/up/bar", "pids": "/cg/pids/p/up/bar",
                       "systemd": "/cg/systemd/s/up/bar", "unified": "/cg/unified/up/bar"}
    assert detect("/up/bar", "abc", mountinfo, own).paths["pids"] == "/cg/pids/up/bar"
    # Pure v2 (runc's fs2): under the parent of the caller's own cgroup.
    mountinfo.write_text("41 31 0:38 / /cg rw - cgroup2 cgroup2 rw\n")
    own.write_text("0::/user.slice/session-1.scope\n")
    assert detect("up/bar", "abc", mountinfo, own).paths == {"unified": "/cg/user.slice/up/bar"}
    assert detect("/up/bar", "abc", mountinfo, own).paths == {"unified": "/cg/up/bar"}
    assert own_cgroups("4:memory:/m\n0::/\n") == {"memory": "/m", "": "/"}


@pytest.mark.root
def test_relative_cgroups_path_under_the_runtimes_own_cgroup(rt: Env) -> None:
    # berth-runtime, like runc, puts a relative cgroupsPath under the cgroup it runs in: the
    # command is started inside a private pids cgroup, and the container must land below it.
    import subprocess
    import sys

    holder = Path("/sys/fs/cgroup/pids") / f"{rt.cgroup_parent}-holder"
    rel = f"{rt.cgroup_parent}-rel/c"
    bundle, _, _ = rt.bundle(["cat", "/proc/self/cgroup"], overlay=False,
                             mutate=lambda s: s["linux"].__setitem__("cgroupsPath", rel))
    holder.mkdir()
    try:
        def enter() -> None:
            (holder / "cgroup.procs").write_text(str(os.getpid()))

        out = subprocess.run(
            [str(Path(sys.executable).parent / "berth-runtime"), "--root", str(rt.state_root), "run",
             "--bundle", str(bundle), rt.ids[-1]],
            preexec_fn=enter, capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, out.stderr
        lines = dict(line.split(":", 2)[1:] for line in out.stdout.splitlines())
        assert lines["pids"] == f"/{holder.name}/{rel}"
        assert lines[""] == f"/{rel}"
    finally:
        # The relative path also lands under the test process's own cgroup where that is not
        # a hierarchy's root (a v1 hierarchy the holder is not in).
        remove_cgroup_tree(holder.name)
        remove_cgroup_tree(rel.split("/")[0])
