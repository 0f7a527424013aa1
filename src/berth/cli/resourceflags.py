"""``run``/``create`` resource flags beyond -m/--cpus/--pids-limit: --memory-reservation,
--memory-swap, --memory-swappiness, --oom-kill-disable, --shm-size, -c/--cpu-shares,
--cpu-period, --cpu-quota, --cpuset-cpus, --cpuset-mems, --blkio-weight.

Owns their conversion into HostConfig with the docker CLI's value syntax (go-units sizes,
Go integers) and its client-side messages; the limits themselves are the daemon's to judge.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from berth.cli.context import UsageError
from berth.cli.humanize import parse_ram_bytes
from berth.errors import BerthError

__all__ = ["add_flags", "apply_flags", "go_int", "size_flag"]


def add_flags(add: Callable[..., Any]) -> None:
    add("--memory-reservation", default="")
    add("--memory-swap", default="")
    add("--memory-swappiness", default="-1")
    add("--shm-size", default="")
    add("-c", "--cpu-shares", default="0")
    add("--cpu-period", default="0")
    add("--cpu-quota", default="0")
    add("--cpuset-cpus", default="")
    add("--cpuset-mems", default="")
    add("--blkio-weight", default="0")


def go_int(text: str, flag: str, *, bits: int = 64, signed: bool = True) -> int:
    """strconv.ParseInt / ParseUint as pflag uses them, with pflag's message."""
    func = "ParseInt" if signed else "ParseUint"
    try:
        value = int(text, 0)
    except ValueError:
        raise UsageError(f'invalid argument "{text}" for "{flag}" flag: strconv.{func}: '
                         f'parsing "{text}": invalid syntax') from None
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if not lo <= value <= hi:
        raise UsageError(f'invalid argument "{text}" for "{flag}" flag: strconv.{func}: '
                         f'parsing "{text}": value out of range')
    return value


def size_flag(text: str, flag: str) -> int:
    """A go-units size (``128m``); empty means unset (0)."""
    if not text:
        return 0
    try:
        return parse_ram_bytes(text)
    except BerthError as exc:
        raise UsageError(f'invalid argument "{text}" for "{flag}" flag: {exc.message}') from exc


def apply_flags(ns: argparse.Namespace, body: dict[str, Any]) -> None:
    hc = body["HostConfig"]
    hc["MemoryReservation"] = size_flag(ns.memory_reservation, "--memory-reservation")
    # "-1" is docker's "unlimited swap", not a size.
    hc["MemorySwap"] = -1 if ns.memory_swap == "-1" else size_flag(ns.memory_swap, "--memory-swap")
    swappiness = go_int(ns.memory_swappiness, "--memory-swappiness")
    if swappiness != -1 and not 0 <= swappiness <= 100:
        raise UsageError(f"invalid value: {swappiness}. Valid memory swappiness range is 0-100")
    hc["MemorySwappiness"] = swappiness
    hc["ShmSize"] = size_flag(ns.shm_size, "--shm-size")
    hc["CpuShares"] = go_int(ns.cpu_shares, "-c, --cpu-shares")
    hc["CpuPeriod"] = go_int(ns.cpu_period, "--cpu-period")
    hc["CpuQuota"] = go_int(ns.cpu_quota, "--cpu-quota")
    hc["CpusetCpus"] = ns.cpuset_cpus
    hc["CpusetMems"] = ns.cpuset_mems
    hc["BlkioWeight"] = go_int(ns.blkio_weight, "--blkio-weight", bits=16, signed=False)
