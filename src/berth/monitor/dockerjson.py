"""A pair of container samples -> the JSON object of Docker's ``GET /containers/{id}/stats``.

``docker stats`` computes CPU % from the difference between ``cpu_stats`` and
``precpu_stats`` and MEM as usage minus inactive_file, so both samples must be real
readings one interval apart (the previous one may be absent: then precpu is zeros and
``preread`` is Go's zero time, as in moby's first streamed object).
"""

from __future__ import annotations

from typing import Any

from berth.monitor.samples import CgroupSample, ContainerSample
from berth.timefmt import ZERO_TIME, format_ns

__all__ = ["stats_json", "zero_stats_json"]


def _cpu(sample: ContainerSample | None) -> dict[str, Any]:
    if sample is None:
        return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
    cg = sample.cgroup
    usage: dict[str, Any] = {"total_usage": cg.cpu_total_ns,
                             "usage_in_kernelmode": cg.cpu_kernel_ns,
                             "usage_in_usermode": cg.cpu_user_ns}
    if cg.cgroup_version == 1:
        usage["percpu_usage"] = list(cg.percpu_ns)
    return {"cpu_usage": usage, "system_cpu_usage": sample.system_cpu_ns,
            "online_cpus": sample.online_cpus,
            "throttling_data": {"periods": cg.throttle_periods,
                                "throttled_periods": cg.throttled_periods,
                                "throttled_time": cg.throttled_time_ns}}


def _memory(cg: CgroupSample) -> dict[str, Any]:
    out: dict[str, Any] = {"usage": cg.memory_usage, "stats": dict(cg.memory_stats),
                           "limit": cg.memory_limit}
    if cg.cgroup_version == 1:
        out["max_usage"] = cg.memory_max_usage
        out["failcnt"] = cg.memory_failcnt
    return out


def _blkio(cg: CgroupSample) -> dict[str, Any]:
    rows = [{"major": e.major, "minor": e.minor, "op": e.op, "value": e.value} for e in cg.blkio]
    if cg.cgroup_version == 2:
        # moby's v2 rows are lower-case ("read"/"write"); the CLI matches either case.
        rows = [{**r, "op": str(r["op"]).lower()} for r in rows]
    empty: list[dict[str, Any]] | None = None if cg.cgroup_version == 2 else []
    return {"io_service_bytes_recursive": rows, "io_serviced_recursive": empty,
            "io_queue_recursive": empty, "io_service_time_recursive": empty,
            "io_wait_time_recursive": empty, "io_merged_recursive": empty,
            "io_time_recursive": empty, "sectors_recursive": empty}


def stats_json(name: str, current: ContainerSample, previous: ContainerSample | None,
               *, with_networks: bool = True) -> dict[str, Any]:
    """Docker's stats object for container ``name`` (without the leading "/")."""
    cg = current.cgroup
    out: dict[str, Any] = {
        "name": f"/{name}", "id": current.container_id,
        "read": format_ns(current.time_ns),
        "preread": format_ns(previous.time_ns) if previous is not None else ZERO_TIME,
        "pids_stats": {"current": cg.pids_current, **({"limit": cg.pids_limit} if cg.pids_limit else {})},
        "blkio_stats": _blkio(cg),
        "num_procs": 0, "storage_stats": {},
        "cpu_stats": _cpu(current), "precpu_stats": _cpu(previous),
        "memory_stats": _memory(cg),
    }
    if with_networks and current.networks:
        out["networks"] = {
            n.name: {"rx_bytes": n.rx_bytes, "rx_packets": n.rx_packets, "rx_errors": n.rx_errors,
                     "rx_dropped": n.rx_dropped, "tx_bytes": n.tx_bytes, "tx_packets": n.tx_packets,
                     "tx_errors": n.tx_errors, "tx_dropped": n.tx_dropped}
            for n in current.networks}
    return out


def zero_stats_json(name: str, container_id: str) -> dict[str, Any]:
    """What moby answers for a container that is not running: zero times, empty sections."""
    return {"name": f"/{name}", "id": container_id, "read": ZERO_TIME, "preread": ZERO_TIME,
            "pids_stats": {}, "blkio_stats": {k: None for k in (
                "io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
                "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
                "io_time_recursive", "sectors_recursive")},
            "num_procs": 0, "storage_stats": {},
            "cpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0,
                                        "usage_in_usermode": 0}, "throttling_data": {
                "periods": 0, "throttled_periods": 0, "throttled_time": 0}},
            "precpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0,
                                           "usage_in_usermode": 0}, "throttling_data": {
                "periods": 0, "throttled_periods": 0, "throttled_time": 0}},
            "memory_stats": {}}
