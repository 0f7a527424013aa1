"""Pure parsers of cgroup v1 and v2 stat files, and the readers that apply them to one cgroup.

v1 (this host): one directory per hierarchy, ``cpuacct.usage*``, ``cpu.stat``, ``memory.*``,
``pids.*``, ``blkio.throttle.io_service_bytes_recursive``. v2: one directory with ``cpu.stat``
(microseconds), ``memory.current/max/peak/stat``, ``pids.current/max``, ``io.stat``.
A file that is missing (controller not mounted, container just exited) reads as zero:
stats are best effort, as in Docker.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from berth.monitor.samples import BlkioEntry, CgroupSample

__all__ = [
    "parse_blkio_v1", "parse_flat_keyed", "parse_io_stat_v2", "parse_limit", "parse_percpu",
    "read_v1", "read_v2",
]

# v1 reports "no limit" as the largest page-aligned signed 64-bit value.
_V1_UNLIMITED = 0x7FFFFFFFFFFFF000
_BLKIO_OPS = {"read": "Read", "write": "Write", "sync": "Sync", "async": "Async",
              "discard": "Discard", "total": "Total"}


def parse_flat_keyed(text: str) -> dict[str, int]:
    """``key value`` lines (memory.stat, cpu.stat, cpuacct.stat) -> dict; bad lines are skipped."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


def parse_limit(text: str, host_memory: int = 0) -> int:
    """A limit file (v1 number, v2 number or ``max``); unlimited becomes ``host_memory`` (as Docker
    shows the host's memory as the LIMIT of an unlimited container), or 0 when not given."""
    value = text.strip()
    if not value or value == "max":
        return host_memory
    try:
        n = int(value)
    except ValueError:
        return host_memory
    if n >= _V1_UNLIMITED and host_memory:
        return host_memory
    return min(n, host_memory) if host_memory else n


def parse_percpu(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split() if x.isdigit())


def parse_blkio_v1(text: str) -> tuple[BlkioEntry, ...]:
    """``8:0 Read 4096`` lines of blkio.*io_service_bytes_recursive (the ``Total`` footer is skipped)."""
    out: list[BlkioEntry] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or ":" not in parts[0]:
            continue
        major, _, minor = parts[0].partition(":")
        try:
            out.append(BlkioEntry(int(major), int(minor), parts[1], int(parts[2])))
        except ValueError:
            continue
    return tuple(out)


def parse_io_stat_v2(text: str) -> tuple[BlkioEntry, ...]:
    """``8:0 rbytes=1 wbytes=2 rios=3 ...`` lines of v2 io.stat -> Read/Write byte entries."""
    out: list[BlkioEntry] = []
    for line in text.splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        major, _, minor = parts[0].partition(":")
        fields = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        try:
            dev = (int(major), int(minor))
            out.append(BlkioEntry(*dev, "Read", int(fields.get("rbytes", "0"))))
            out.append(BlkioEntry(*dev, "Write", int(fields.get("wbytes", "0"))))
        except ValueError:
            continue
    return tuple(out)


def _read(path: Path) -> str:
    # os.open/os.read, not Path.read_text: the collector reads ~14 small files per container
    # per second, and the buffered text stack costs more than the kernel's work here.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        return os.read(fd, 65536).decode("ascii", "replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def _read_int(path: Path) -> int:
    try:
        return int(_read(path).strip() or 0)
    except ValueError:
        return 0


def read_v1(dirs: Mapping[str, Path], host_memory: int = 0) -> CgroupSample:
    """Read one container's v1 cgroup; ``dirs`` maps controller name -> its directory."""
    cpuacct = dirs.get("cpuacct")
    cpu = dirs.get("cpu")
    mem = dirs.get("memory")
    pids = dirs.get("pids")
    blkio = dirs.get("blkio")
    total = user = kernel = 0
    percpu: tuple[int, ...] = ()
    if cpuacct is not None:
        total = _read_int(cpuacct / "cpuacct.usage")
        percpu = parse_percpu(_read(cpuacct / "cpuacct.usage_percpu"))
        user = _read_int(cpuacct / "cpuacct.usage_user")
        kernel = _read_int(cpuacct / "cpuacct.usage_sys")
    throttle = parse_flat_keyed(_read(cpu / "cpu.stat")) if cpu is not None else {}
    stats: dict[str, int] = {}
    usage = max_usage = limit = failcnt = 0
    if mem is not None:
        stats = parse_flat_keyed(_read(mem / "memory.stat"))
        usage = _read_int(mem / "memory.usage_in_bytes")
        max_usage = _read_int(mem / "memory.max_usage_in_bytes")
        failcnt = _read_int(mem / "memory.failcnt")
        limit = parse_limit(_read(mem / "memory.limit_in_bytes"), host_memory)
    entries: tuple[BlkioEntry, ...] = ()
    if blkio is not None:
        # The throttle files count every cgroup's I/O; the CFQ/BFQ ones only under that scheduler.
        entries = parse_blkio_v1(_read(blkio / "blkio.throttle.io_service_bytes_recursive"))
    return CgroupSample(
        cpu_total_ns=total, cpu_user_ns=user, cpu_kernel_ns=kernel, percpu_ns=percpu,
        throttle_periods=throttle.get("nr_periods", 0),
        throttled_periods=throttle.get("nr_throttled", 0),
        throttled_time_ns=throttle.get("throttled_time", 0),
        memory_usage=usage, memory_max_usage=max_usage, memory_limit=limit,
        memory_failcnt=failcnt, memory_stats=tuple(sorted(stats.items())),
        pids_current=_read_int(pids / "pids.current") if pids is not None else 0,
        pids_limit=parse_limit(_read(pids / "pids.max")) if pids is not None else 0,
        blkio=entries, cgroup_version=1)


def read_v2(path: Path, host_memory: int = 0) -> CgroupSample:
    """Read one container's v2 cgroup directory (cpu.stat counts microseconds)."""
    cpu = parse_flat_keyed(_read(path / "cpu.stat"))
    stats = parse_flat_keyed(_read(path / "memory.stat"))
    return CgroupSample(
        cpu_total_ns=cpu.get("usage_usec", 0) * 1000, cpu_user_ns=cpu.get("user_usec", 0) * 1000,
        cpu_kernel_ns=cpu.get("system_usec", 0) * 1000,
        throttle_periods=cpu.get("nr_periods", 0), throttled_periods=cpu.get("nr_throttled", 0),
        throttled_time_ns=cpu.get("throttled_usec", 0) * 1000,
        memory_usage=_read_int(path / "memory.current"),
        memory_max_usage=_read_int(path / "memory.peak"),
        memory_limit=parse_limit(_read(path / "memory.max"), host_memory),
        memory_stats=tuple(sorted(stats.items())),
        pids_current=_read_int(path / "pids.current"),
        pids_limit=parse_limit(_read(path / "pids.max")),
        blkio=parse_io_stat_v2(_read(path / "io.stat")), cgroup_version=2)
