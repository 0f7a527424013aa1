"""``linux.resources``, ``process.rlimits`` and ``linux.sysctl`` from Docker's HostConfig, with
Docker's validation messages. Pure: host facts (CPU count) are passed in.

Must not write cgroup files (the runtime does) or look at the host.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from berth.errors import InvalidArgument

__all__ = ["DEFAULT_DEVICE_RULES", "device_cgroup_rules", "resources", "rlimits", "sysctls"]

_MIN_MEMORY: Final = 6 * 1024 * 1024
_CPUSET: Final = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")

# moby's oci.DefaultLinuxSpec device cgroup: deny all, then the nodes every container has.
DEFAULT_DEVICE_RULES: Final = (
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "major": -1, "minor": -1, "access": "m"},
    {"allow": True, "type": "b", "major": -1, "minor": -1, "access": "m"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
    {"allow": True, "type": "c", "major": 136, "minor": -1, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
    {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
)

_CGROUP_RULE: Final = re.compile(r"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$")

_ULIMITS: Final = {
    "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
    "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE",
    "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC",
    "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO", "rttime": "RLIMIT_RTTIME",
    "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK", "as": "RLIMIT_AS",
}

_IPC_SYSCTLS: Final = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                       "kernel.shmall", "kernel.shmmax", "kernel.shmmni",
                       "kernel.shm_rmid_forced")


def _int(hc: Mapping[str, Any], key: str) -> int:
    value = hc.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{key} must be an integer")
    return value


def _memory(hc: Mapping[str, Any]) -> dict[str, Any]:
    memory = _int(hc, "Memory")
    swap = _int(hc, "MemorySwap")
    reservation = _int(hc, "MemoryReservation")
    out: dict[str, Any] = {}
    if memory < 0:
        raise InvalidArgument("invalid memory limit")
    if 0 < memory < _MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if swap > 0 and memory == 0:
        raise InvalidArgument("You should always set the Memory limit when using Memoryswap "
                              "limit, see usage")
    if memory > 0 and swap > 0 and swap < memory:
        raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, "
                              "see usage")
    if memory > 0 and 0 < memory < reservation:
        raise InvalidArgument("Minimum memory limit can not be less than memory reservation "
                              "limit, see usage")
    if 0 < reservation < _MIN_MEMORY:
        raise InvalidArgument("Minimum memory reservation allowed is 6MB")
    if memory > 0:
        out["limit"] = memory
        # Docker's default when only -m is given: as much swap as memory (memsw = 2x).
        out["swap"] = swap if swap != 0 else memory * 2
    elif swap == -1:
        out["swap"] = -1
    if reservation > 0:
        out["reservation"] = reservation
    swappiness = hc.get("MemorySwappiness")
    if isinstance(swappiness, int) and not isinstance(swappiness, bool) and swappiness != -1:
        if not 0 <= swappiness <= 100:
            raise InvalidArgument(f"Invalid value: {swappiness}, valid memory swappiness range is 0-100")
        out["swappiness"] = swappiness
    return out


def _cpu(hc: Mapping[str, Any], host_cpus: int | None) -> dict[str, Any]:
    nano = _int(hc, "NanoCpus")
    quota = _int(hc, "CpuQuota")
    period = _int(hc, "CpuPeriod")
    shares = _int(hc, "CpuShares")
    out: dict[str, Any] = {}
    if nano:
        if period:
            raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both "
                                  "be set")
        if quota:
            raise InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both "
                                  "be set")
        if nano < 0 or (host_cpus is not None and nano > host_cpus * 10**9):
            limit = host_cpus if host_cpus is not None else 0
            raise InvalidArgument(f"Range of CPUs is from 0.01 to {limit}.00, as there are "
                                  f"only {limit} CPUs available")
        out["period"] = 100000
        out["quota"] = nano * 100000 // 10**9
    if period and not 1000 <= period <= 1000000:
        raise InvalidArgument("CPU cfs period can not be less than 1ms (i.e. 1000) or larger "
                              "than 1s (i.e. 1000000)")
    if 0 < quota < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if period:
        out["period"] = period
    if quota:
        out["quota"] = quota
    if shares < 0:
        raise InvalidArgument("invalid CPU shares: must be positive")
    if shares:
        out["shares"] = shares
    for key, field in (("CpusetCpus", "cpus"), ("CpusetMems", "mems")):
        value = str(hc.get(key) or "")
        if value:
            if not _CPUSET.match(value):
                what = "cpuset cpus" if field == "cpus" else "cpuset mems"
                raise InvalidArgument(f"Invalid value {value} for {what}")
            out[field] = value
    return out


def resources(hc: Mapping[str, Any], privileged: bool,
              host_cpus: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    mem = _memory(hc)
    if hc.get("OomKillDisable"):
        mem["disableOOMKiller"] = True
    if mem:
        out["memory"] = mem
    cpu = _cpu(hc, host_cpus)
    if cpu:
        out["cpu"] = cpu
    pids = hc.get("PidsLimit")
    if isinstance(pids, int) and not isinstance(pids, bool) and pids > 0:
        out["pids"] = {"limit": pids}
    weight = _int(hc, "BlkioWeight")
    if weight and not 10 <= weight <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")
    if weight:
        out["blockIO"] = {"weight": weight}
    if privileged:
        out["devices"] = [{"allow": True, "access": "rwm"}]
    else:
        out["devices"] = [dict(r) for r in DEFAULT_DEVICE_RULES]
    return out


def rlimits(hc: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for u in hc.get("Ulimits") or []:
        name = str(u.get("Name") or "")
        if name not in _ULIMITS:
            raise InvalidArgument(f"invalid ulimit type: {name}")
        soft, hard = int(u.get("Soft", 0)), int(u.get("Hard", 0))
        if soft > hard:
            raise InvalidArgument(f"ulimit soft limit must be less than or equal to hard "
                                  f"limit: {soft} > {hard}")
        out.append({"type": _ULIMITS[name], "soft": soft, "hard": hard})
    return out


def sysctls(hc: Mapping[str, Any], host_network: bool, host_ipc: bool) -> dict[str, str]:
    """Only namespaced sysctls, as Docker allows them."""
    out: dict[str, str] = {}
    for key, value in (hc.get("Sysctls") or {}).items():
        if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            if host_ipc:
                raise InvalidArgument(f"sysctl {key!r} is not allowed in host IPC namespace")
        elif key.startswith("net."):
            if host_network:
                raise InvalidArgument(f"sysctl {key!r} is not allowed in host network "
                                      f"namespace")
        elif key != "kernel.domainname":
            raise InvalidArgument(f"sysctl {key!r} is not whitelisted")
        out[str(key)] = str(value)
    return out


def device_cgroup_rules(hc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``--device-cgroup-rule 'c 1:3 rwm'`` entries as OCI allow rules (Docker's format check)."""
    out: list[dict[str, Any]] = []
    for rule in hc.get("DeviceCgroupRules") or []:
        m = _CGROUP_RULE.match(str(rule))
        if m is None:
            raise InvalidArgument(f"invalid device cgroup format '{rule}'")
        kind, major, minor, access = m.groups()
        entry: dict[str, Any] = {"allow": True, "type": kind, "access": access}
        entry["major"] = -1 if major == "*" else int(major)
        entry["minor"] = -1 if minor == "*" else int(minor)
        out.append(entry)
    return out
