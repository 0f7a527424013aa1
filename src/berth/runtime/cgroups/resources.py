"""OCI ``linux.resources`` -> ordered cgroup file writes. Pure: no I/O.

A resource whose controller is not mounted (net_cls/net_prio here) fails the create, as under
runc; only writes marked optional are skipped when the kernel lacks the file.

Owns the unit conversions (shares -> weight, blkio weight -> io.weight, swap semantics) and
the write order the kernel needs (memory limit before memsw, period before quota, deny-all
before allows). Must not open files; the managers do the writing.
"""

from __future__ import annotations

from berth.errors import RuntimeFailure
from berth.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = ["Write", "device_rules_v1", "v1_writes", "v2_writes"]


class Write(Record):
    """Write ``value`` to ``<dir of controller>/<file>``; ``optional`` writes are skipped when
    the file does not exist (e.g. memsw without swap accounting)."""

    controller: str
    file: str
    value: str
    optional: bool = False


def _int(section: Mapping[str, Any], key: str) -> int | None:
    value = section.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RuntimeFailure(f"linux.resources: {key} must be an integer")
    return value


def device_rules_v1(devices: list[Mapping[str, Any]]) -> list[Write]:
    out: list[Write] = []
    for rule in devices:
        kind = str(rule.get("type") or "a")
        major = rule.get("major")
        minor = rule.get("minor")
        access = str(rule.get("access") or "rwm")
        maj = "*" if major is None or major == -1 else str(major)
        mnr = "*" if minor is None or minor == -1 else str(minor)
        value = "a" if kind == "a" else f"{kind} {maj}:{mnr} {access}"
        out.append(Write("devices", "devices.allow" if rule.get("allow") else "devices.deny",
                         value))
    return out


def v1_writes(resources: Mapping[str, Any]) -> list[Write]:
    out: list[Write] = []
    mem = resources.get("memory") or {}
    limit = _int(mem, "limit")
    swap = _int(mem, "swap")
    reservation = _int(mem, "reservation")
    if limit is not None and limit > 0:
        out.append(Write("memory", "memory.limit_in_bytes", str(limit)))
    if swap is not None and swap != 0:
        # OCI swap is memory+swap, exactly what memsw means; -1 = unlimited.
        out.append(Write("memory", "memory.memsw.limit_in_bytes", str(swap), optional=True))
    if reservation is not None and reservation > 0:
        out.append(Write("memory", "memory.soft_limit_in_bytes", str(reservation)))
    kernel_tcp = _int(mem, "kernelTCP")
    if kernel_tcp is not None and kernel_tcp != 0:
        # memory.kmem.limit_in_bytes ("kernel") is a no-op on kernels >= 5.16; the TCP
        # buffer limit still works where the kernel accounts kernel memory.
        out.append(Write("memory", "memory.kmem.tcp.limit_in_bytes", str(kernel_tcp),
                         optional=True))
    if mem.get("disableOOMKiller"):
        out.append(Write("memory", "memory.oom_control", "1"))
    swappiness = _int(mem, "swappiness")
    if swappiness is not None and 0 <= swappiness <= 100:  # -1 / absent: the parent's
        out.append(Write("memory", "memory.swappiness", str(swappiness)))
    cpu = resources.get("cpu") or {}
    shares = _int(cpu, "shares")
    period = _int(cpu, "period")
    quota = _int(cpu, "quota")
    if shares:
        out.append(Write("cpu", "cpu.shares", str(shares)))
    if period:
        out.append(Write("cpu", "cpu.cfs_period_us", str(period)))
    if quota:
        out.append(Write("cpu", "cpu.cfs_quota_us", str(quota)))
    if cpu.get("cpus"):
        out.append(Write("cpuset", "cpuset.cpus", str(cpu["cpus"])))
    if cpu.get("mems"):
        out.append(Write("cpuset", "cpuset.mems", str(cpu["mems"])))
    pids = resources.get("pids") or {}
    pids_limit = _int(pids, "limit")
    if pids_limit is not None and pids_limit != 0:
        out.append(Write("pids", "pids.max", "max" if pids_limit < 0 else str(pids_limit)))
    blkio = resources.get("blockIO") or {}
    weight = _int(blkio, "weight")
    if weight:
        # CFQ's blkio.weight is gone from modern kernels; BFQ exposes blkio.bfq.weight, and
        # without BFQ Docker drops the weight with a warning, so the write is optional.
        out.append(Write("blkio", "blkio.bfq.weight", str(weight), optional=True))
    for entry in blkio.get("weightDevice") or ():
        dev_weight = _int(entry, "weight")
        if dev_weight:
            out.append(Write("blkio", "blkio.bfq.weight_device",
                             f"{_device(entry)} {dev_weight}", optional=True))
    for key, file in _THROTTLE_V1:
        for entry in blkio.get(key) or ():
            out.append(Write("blkio", file, f"{_device(entry)} {_int(entry, 'rate') or 0}"))
    network = resources.get("network") or {}
    class_id = _int(network, "classID")
    if class_id is not None:
        out.append(Write("net_cls", "net_cls.classid", str(class_id)))
    for prio in network.get("priorities") or ():
        out.append(Write("net_prio", "net_prio.ifpriomap",
                         f"{prio.get('name', '')} {_int(prio, 'priority') or 0}"))
    out.extend(device_rules_v1(list(resources.get("devices") or [])))
    return out


# linux.resources.blockIO throttles -> v1 files and v2 io.max keys.
_THROTTLE_V1 = (("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
                ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
                ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
                ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"))
_THROTTLE_V2 = (("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"),
                ("throttleReadIOPSDevice", "riops"), ("throttleWriteIOPSDevice", "wiops"))


def _device(entry: Mapping[str, Any]) -> str:
    major, minor = _int(entry, "major"), _int(entry, "minor")
    if major is None or minor is None:
        raise RuntimeFailure("linux.resources.blockIO: a device needs major and minor")
    return f"{major}:{minor}"


def _shares_to_weight(shares: int) -> int:
    return 1 + ((shares - 2) * 9999) // 262142


def v2_writes(resources: Mapping[str, Any]) -> list[Write]:
    out: list[Write] = []
    mem = resources.get("memory") or {}
    limit = _int(mem, "limit")
    swap = _int(mem, "swap")
    reservation = _int(mem, "reservation")
    if limit is not None and limit > 0:
        out.append(Write("unified", "memory.max", str(limit)))
    if swap is not None and swap != 0:
        if swap < 0:
            value = "max"
        elif limit is not None and limit > 0:
            value = str(max(swap - limit, 0))
        else:
            raise RuntimeFailure("linux.resources: memory.swap needs memory.limit on cgroup v2")
        out.append(Write("unified", "memory.swap.max", value, optional=True))
    if reservation is not None and reservation > 0:
        out.append(Write("unified", "memory.low", str(reservation)))
    cpu = resources.get("cpu") or {}
    shares = _int(cpu, "shares")
    period = _int(cpu, "period")
    quota = _int(cpu, "quota")
    if shares:
        out.append(Write("unified", "cpu.weight", str(_shares_to_weight(shares))))
    if quota or period:
        q = "max" if not quota or quota < 0 else str(quota)
        out.append(Write("unified", "cpu.max", f"{q} {period or 100000}"))
    if cpu.get("cpus"):
        out.append(Write("unified", "cpuset.cpus", str(cpu["cpus"])))
    if cpu.get("mems"):
        out.append(Write("unified", "cpuset.mems", str(cpu["mems"])))
    pids = resources.get("pids") or {}
    pids_limit = _int(pids, "limit")
    if pids_limit is not None and pids_limit != 0:
        out.append(Write("unified", "pids.max", "max" if pids_limit < 0 else str(pids_limit)))
    blkio = resources.get("blockIO") or {}
    weight = _int(blkio, "weight")
    if weight:
        out.append(Write("unified", "io.bfq.weight", str(weight), optional=True))
    for key, name in _THROTTLE_V2:
        for entry in blkio.get(key) or ():
            out.append(Write("unified", "io.max", f"{_device(entry)} {name}={_int(entry, 'rate') or 0}"))
    # Device rules need an eBPF program on v2; that is a later issue, not silently done here.
    return out
