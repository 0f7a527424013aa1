"""pause, resume, update and events: the container's cgroups through the command line."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from berth.errors import InvalidArgument
from berth.runtime import control
from berth.runtime import state as statefile
from berth.runtime.cli._args import Args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["cmd_events", "cmd_pause", "cmd_resume", "cmd_update"]


def cmd_pause(args: Args, root: str) -> int:
    control.pause(root, args.id)
    return 0


def cmd_resume(args: Args, root: str) -> int:
    control.resume(root, args.id)
    return 0


def _flag_resources(args: Args) -> dict[str, Any]:
    memory = {k: v for k, v in (("limit", args.memory), ("reservation", args.memory_reservation),
                                ("swap", args.memory_swap)) if v is not None}
    cpu: dict[str, Any] = {k: v for k, v in (("shares", args.cpu_shares), ("quota", args.cpu_quota),
                                              ("period", args.cpu_period)) if v is not None}
    if args.cpuset_cpus is not None:
        cpu["cpus"] = args.cpuset_cpus
    if args.cpuset_mems is not None:
        cpu["mems"] = args.cpuset_mems
    res: dict[str, Any] = {}
    if memory:
        res["memory"] = memory
    if cpu:
        res["cpu"] = cpu
    if args.pids_limit is not None:
        res["pids"] = {"limit": args.pids_limit}
    return res


def cmd_update(args: Args, root: str) -> int:
    if args.resources:
        try:
            raw = sys.stdin.read() if args.resources == "-" else Path(args.resources).read_text()
            res = json.loads(raw)
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"read resources {args.resources}: {exc}") from exc
        if not isinstance(res, dict):
            raise InvalidArgument("resources must be a JSON object")
    else:
        res = _flag_resources(args)
    control.update(root, args.id, res)
    return 0


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _stats(root: str, container_id: str) -> dict[str, Any]:
    paths = {k: Path(v) for k, v in statefile.load(root, container_id).cgroup_paths.items()}
    data: dict[str, Any] = {}
    if "cpuacct" in paths:
        data["cpu"] = {"usage": {"total": _read_int(paths["cpuacct"] / "cpuacct.usage")}}
    if "memory" in paths:
        data["memory"] = {"usage": {"usage": _read_int(paths["memory"] / "memory.usage_in_bytes"),
                                    "max": _read_int(paths["memory"] / "memory.max_usage_in_bytes"),
                                    "limit": _read_int(paths["memory"] / "memory.limit_in_bytes")}}
    if "pids" in paths:
        data["pids"] = {"current": _read_int(paths["pids"] / "pids.current")}
    elif "unified" in paths:
        data["pids"] = {"current": _read_int(paths["unified"] / "pids.current")}
    return {"type": "stats", "id": container_id, "data": data}


def cmd_events(args: Args, root: str) -> int:
    if args.stats:
        print(json.dumps(_stats(root, args.id)))
        return 0
    while statefile.status_of(statefile.load(root, args.id)) is not statefile.Status.STOPPED:
        print(json.dumps(_stats(root, args.id)), flush=True)
        time.sleep(args.interval)
    return 0
