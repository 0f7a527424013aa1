"""Pure parsers of /proc files (net/dev, stat, meminfo, diskstats) and the host reader.

A container's network counters come from ``/proc/<pid>/net/dev``: that file shows the
network namespace of ``<pid>``, so reading it needs no setns and no netlink.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from berth.monitor.samples import HostSample, NetInterface

__all__ = [
    "parse_diskstats", "parse_meminfo", "parse_net_dev", "parse_proc_stat", "read_host",
    "read_net_dev",
]

_USER_HZ = os.sysconf("SC_CLK_TCK")


def parse_net_dev(text: str) -> tuple[NetInterface, ...]:
    """/proc/net/dev: two header lines, then ``name: rx(8 fields) tx(8 fields)``."""
    out: list[NetInterface] = []
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        if not sep:
            continue
        f = rest.split()
        if len(f) < 16:
            continue
        try:
            v = [int(x) for x in f[:16]]
        except ValueError:
            continue
        out.append(NetInterface(name=name.strip(), rx_bytes=v[0], rx_packets=v[1], rx_errors=v[2],
                                rx_dropped=v[3], tx_bytes=v[8], tx_packets=v[9], tx_errors=v[10],
                                tx_dropped=v[11]))
    return tuple(out)


def parse_proc_stat(text: str, user_hz: int = _USER_HZ) -> tuple[int, int, int]:
    """(total ns, busy ns, online cpus) from /proc/stat's ``cpu`` and ``cpuN`` lines.

    Docker's system_cpu_usage is the sum of the first seven fields of the ``cpu`` line
    (user nice system idle iowait irq softirq) in nanoseconds; busy leaves out idle and iowait.
    """
    total = busy = 0
    cpus = 0
    for line in text.splitlines():
        if line.startswith("cpu "):
            fields = [int(x) for x in line.split()[1:8]]
            total = sum(fields)
            busy = total - fields[3] - (fields[4] if len(fields) > 4 else 0)
        elif line.startswith("cpu"):
            cpus += 1
    scale = 1_000_000_000 // user_hz
    return total * scale, busy * scale, max(cpus, 1)


def parse_meminfo(text: str) -> tuple[int, int]:
    """(MemTotal, MemAvailable) in bytes."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
    return values.get("MemTotal", 0), values.get("MemAvailable", values.get("MemFree", 0))


def parse_diskstats(text: str) -> tuple[int, int]:
    """(bytes read, bytes written) over whole disks (sd*, vd*, nvme*n*, xvd*); sectors are 512 B."""
    read = written = 0
    for line in text.splitlines():
        f = line.split()
        if len(f) < 10:
            continue
        name = f[2]
        whole = (name.startswith(("sd", "vd", "xvd", "hd")) and not name[-1].isdigit()) or (
            name.startswith("nvme") and "p" not in name.split("n", 2)[-1])
        if whole:
            read += int(f[5]) * 512
            written += int(f[9]) * 512
    return read, written


def read_net_dev(pid: int | str, proc: Path = Path("/proc")) -> tuple[NetInterface, ...]:
    try:
        fd = os.open(f"{proc}/{pid}/net/dev", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return ()
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError:
        return ()
    finally:
        os.close(fd)
    return parse_net_dev(b"".join(chunks).decode("ascii", "replace"))


def read_host(proc: Path = Path("/proc")) -> HostSample:
    total, busy, cpus = parse_proc_stat((proc / "stat").read_text())
    mem_total, mem_avail = parse_meminfo((proc / "meminfo").read_text())
    try:
        disk_r, disk_w = parse_diskstats((proc / "diskstats").read_text())
    except OSError:
        disk_r = disk_w = 0
    nets = tuple(n for n in read_net_dev("self", proc) if n.name != "lo")
    return HostSample(time_ns=time.time_ns(), system_cpu_ns=total, busy_cpu_ns=busy,
                      online_cpus=cpus, memory_total=mem_total, memory_available=mem_avail,
                      networks=nets, disk_read_bytes=disk_r, disk_write_bytes=disk_w)
