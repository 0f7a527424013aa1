"""The values a stats reading produces: frozen samples of a cgroup, a network namespace and the host."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["BlkioEntry", "CgroupSample", "ContainerSample", "HostSample", "NetInterface"]


@dataclass(frozen=True)
class BlkioEntry:
    """One row of Docker's ``io_service_bytes_recursive``: bytes read or written on a device."""

    major: int
    minor: int
    op: str  # "Read" | "Write" | "Sync" | "Async" | "Discard" | "Total"
    value: int


@dataclass(frozen=True)
class NetInterface:
    """Counters of one interface as /proc/<pid>/net/dev lists them."""

    name: str
    rx_bytes: int = 0
    rx_packets: int = 0
    rx_errors: int = 0
    rx_dropped: int = 0
    tx_bytes: int = 0
    tx_packets: int = 0
    tx_errors: int = 0
    tx_dropped: int = 0


@dataclass(frozen=True)
class CgroupSample:
    """What the cgroup files say at one instant; CPU times in nanoseconds, memory in bytes.

    ``memory_stats`` holds memory.stat as the kernel names it (v1 ``total_inactive_file``,
    v2 ``inactive_file``), as Docker passes it through.
    """

    cpu_total_ns: int = 0
    cpu_user_ns: int = 0
    cpu_kernel_ns: int = 0
    percpu_ns: tuple[int, ...] = ()
    throttle_periods: int = 0
    throttled_periods: int = 0
    throttled_time_ns: int = 0
    memory_usage: int = 0
    memory_max_usage: int = 0
    memory_limit: int = 0
    memory_failcnt: int = 0
    memory_stats: tuple[tuple[str, int], ...] = ()
    pids_current: int = 0
    pids_limit: int = 0
    blkio: tuple[BlkioEntry, ...] = ()
    cgroup_version: int = 1

    def stat(self, key: str) -> int:
        return dict(self.memory_stats).get(key, 0)

    @property
    def inactive_file(self) -> int:
        """What ``docker stats`` subtracts from usage (the page cache it can drop)."""
        stats = dict(self.memory_stats)
        if "total_inactive_file" in stats:
            return stats["total_inactive_file"]
        return stats.get("inactive_file", 0)

    @property
    def working_set(self) -> int:
        return max(0, self.memory_usage - self.inactive_file)

    def blkio_bytes(self, op: str) -> int:
        return sum(e.value for e in self.blkio if e.op == op)


@dataclass(frozen=True)
class HostSample:
    """The host at one instant: ``system_cpu_ns`` is /proc/stat's total of all CPUs (Docker's
    ``system_cpu_usage``); ``busy_cpu_ns`` the part not idle or iowait."""

    time_ns: int
    system_cpu_ns: int
    busy_cpu_ns: int
    online_cpus: int
    memory_total: int
    memory_available: int
    networks: tuple[NetInterface, ...] = ()
    disk_read_bytes: int = 0
    disk_write_bytes: int = 0


@dataclass(frozen=True)
class ContainerSample:
    """One reading of one running container: its cgroup, its network namespace's counters and
    the host CPU total taken at the same moment (the denominator of CPU %)."""

    container_id: str
    time_ns: int
    cgroup: CgroupSample
    networks: tuple[NetInterface, ...] = field(default=())
    system_cpu_ns: int = 0
    online_cpus: int = 1

    def rx_bytes(self) -> int:
        return sum(n.rx_bytes for n in self.networks)

    def tx_bytes(self) -> int:
        return sum(n.tx_bytes for n in self.networks)
