"""cgroup v1 and v2 readers over cgroup-shaped files written into a temp dir (v2 cannot be
mounted on this hybrid host, so its code path is checked on files with the kernel's formats)."""

from __future__ import annotations

from pathlib import Path

from berth.monitor.cgroupfs import (
    parse_blkio_v1,
    parse_io_stat_v2,
    parse_limit,
    read_v1,
    read_v2,
)
from berth.monitor.dockerjson import stats_json
from berth.monitor.samples import ContainerSample

HOST_MEM = 8 * 1024**3


def _write(d: Path, files: dict[str, str]) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(text)


def test_v1_reads_every_controller(tmp_path: Path) -> None:
    dirs = {c: tmp_path / c / "berth" / "abc" for c in ("cpuacct", "cpu", "memory", "pids", "blkio")}
    _write(dirs["cpuacct"], {"cpuacct.usage": "3000000000\n",
                             "cpuacct.usage_percpu": "1000000000 2000000000 \n",
                             "cpuacct.usage_user": "2500000000\n", "cpuacct.usage_sys": "500000000\n"})
    _write(dirs["cpu"], {"cpu.stat": "nr_periods 10\nnr_throttled 4\nthrottled_time 123\n"})
    _write(dirs["memory"], {
        "memory.usage_in_bytes": "104857600\n", "memory.max_usage_in_bytes": "209715200\n",
        "memory.limit_in_bytes": "268435456\n", "memory.failcnt": "2\n",
        "memory.stat": "cache 10\nrss 20\ntotal_inactive_file 4194304\ntotal_rss 52428800\n"})
    _write(dirs["pids"], {"pids.current": "7\n", "pids.max": "max\n"})
    _write(dirs["blkio"], {"blkio.throttle.io_service_bytes_recursive":
                           "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n"
                           "8:0 Total 12288\nTotal 12288\n"})
    s = read_v1(dirs, HOST_MEM)
    assert (s.cpu_total_ns, s.cpu_user_ns, s.cpu_kernel_ns) == (3_000_000_000, 2_500_000_000, 500_000_000)
    assert s.percpu_ns == (1_000_000_000, 2_000_000_000)
    assert (s.throttle_periods, s.throttled_periods, s.throttled_time_ns) == (10, 4, 123)
    assert s.memory_usage == 104857600 and s.memory_max_usage == 209715200
    assert s.memory_limit == 268435456 and s.memory_failcnt == 2
    assert s.working_set == 104857600 - 4194304
    assert s.pids_current == 7 and s.pids_limit == 0
    assert s.blkio_bytes("Read") == 4096 and s.blkio_bytes("Write") == 8192


def test_v1_unlimited_memory_shows_host_memory(tmp_path: Path) -> None:
    d = tmp_path / "memory"
    _write(d, {"memory.limit_in_bytes": "9223372036854771712\n", "memory.usage_in_bytes": "1\n"})
    assert read_v1({"memory": d}, HOST_MEM).memory_limit == HOST_MEM


def test_missing_files_read_as_zero(tmp_path: Path) -> None:
    s = read_v1({"memory": tmp_path / "gone", "cpuacct": tmp_path / "gone2"}, HOST_MEM)
    assert s.cpu_total_ns == 0 and s.memory_usage == 0 and s.percpu_ns == ()
    s2 = read_v2(tmp_path / "nothing", HOST_MEM)
    assert s2.cpu_total_ns == 0 and s2.memory_limit == HOST_MEM


def test_v2_reads_unified_files(tmp_path: Path) -> None:
    d = tmp_path / "unified" / "berth" / "abc"
    _write(d, {
        "cpu.stat": "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n"
                    "nr_periods 5\nnr_throttled 1\nthrottled_usec 250\n",
        "memory.current": "52428800\n", "memory.peak": "62914560\n", "memory.max": "max\n",
        "memory.stat": "anon 40000000\nfile 12000000\ninactive_file 2097152\n",
        "pids.current": "3\n", "pids.max": "100\n",
        "io.stat": "8:0 rbytes=1024 wbytes=2048 rios=1 wios=2 dbytes=0 dios=0\n"
                   "259:0 rbytes=10 wbytes=20 rios=1 wios=1 dbytes=0 dios=0\n"})
    s = read_v2(d, HOST_MEM)
    assert s.cgroup_version == 2
    assert (s.cpu_total_ns, s.cpu_user_ns, s.cpu_kernel_ns) == (1_500_000_000, 1_000_000_000, 500_000_000)
    assert s.throttled_time_ns == 250_000 and s.throttled_periods == 1
    assert s.memory_usage == 52428800 and s.memory_max_usage == 62914560
    assert s.memory_limit == HOST_MEM and s.inactive_file == 2097152
    assert s.pids_current == 3 and s.pids_limit == 100
    assert s.blkio_bytes("Read") == 1034 and s.blkio_bytes("Write") == 2068
    _write(d, {"memory.max": "104857600\n"})
    assert read_v2(d, HOST_MEM).memory_limit == 104857600


def test_v2_stats_json_has_dockers_v2_shape(tmp_path: Path) -> None:
    d = tmp_path / "cg"
    _write(d, {"cpu.stat": "usage_usec 2000000\nuser_usec 1\nsystem_usec 1\n",
               "memory.current": "100\n", "memory.max": "200\n",
               "memory.stat": "inactive_file 10\n", "io.stat": "8:0 rbytes=1 wbytes=2\n"})
    prev = ContainerSample("c" * 64, 1_000_000_000, read_v2(d), system_cpu_ns=10_000_000_000, online_cpus=2)
    _write(d, {"cpu.stat": "usage_usec 3000000\nuser_usec 1\nsystem_usec 1\n"})
    cur = ContainerSample("c" * 64, 2_000_000_000, read_v2(d), system_cpu_ns=12_000_000_000, online_cpus=2)
    body = stats_json("web", cur, prev)
    assert body["name"] == "/web" and body["id"] == "c" * 64
    assert body["memory_stats"] == {"usage": 100, "limit": 200, "stats": {"inactive_file": 10}}
    assert "percpu_usage" not in body["cpu_stats"]["cpu_usage"]
    assert body["cpu_stats"]["cpu_usage"]["total_usage"] == 3_000_000_000
    assert body["precpu_stats"]["cpu_usage"]["total_usage"] == 2_000_000_000
    assert body["blkio_stats"]["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "read", "value": 1},
        {"major": 8, "minor": 0, "op": "write", "value": 2}]
    # docker stats' formula: 1 s of CPU over 2 s of host CPU on 2 cores = 100 %.
    cpu = body["cpu_stats"]
    pre = body["precpu_stats"]
    pct = ((cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"])
           / (cpu["system_cpu_usage"] - pre["system_cpu_usage"]) * cpu["online_cpus"] * 100)
    assert pct == 100.0


def test_small_parsers() -> None:
    assert parse_limit("max") == 0 and parse_limit("max", 5) == 5 and parse_limit("42\n") == 42
    assert parse_limit("garbage", 7) == 7
    assert parse_blkio_v1("junk\n8:16 Read x\n8:16 Write 5\n") == parse_blkio_v1("8:16 Write 5")
    assert parse_io_stat_v2("bad\n") == ()
