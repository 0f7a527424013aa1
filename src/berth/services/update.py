"""``POST /containers/{id}/update``: validate new limits and merge them into HostConfig.

Pure: returns the new HostConfig and the OCI ``linux.resources`` to write to a running
container's cgroups (devices left out: an update never changes device rules). The same
validation as create applies (berth.oci.specresources), with Docker's messages.
"""

from __future__ import annotations

import copy
import os
from typing import Any, Final

from berth import errors
from berth.oci import specresources

__all__ = ["apply_update"]

_UPDATABLE: Final = ("BlkioWeight", "CpuShares", "CpuPeriod", "CpuQuota", "CpusetCpus",
                     "CpusetMems", "Memory", "MemorySwap", "MemoryReservation", "NanoCpus",
                     "PidsLimit", "KernelMemory", "CpuRealtimePeriod", "CpuRealtimeRuntime")


def apply_update(host_config: dict[str, Any], body: dict[str, Any],
                 status: str, container_id: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
    """(new HostConfig, resources to apply now or {} when nothing cgroup-related changed)."""
    if not isinstance(body, dict):
        raise errors.InvalidArgument("update body must be a JSON object")
    new = copy.deepcopy(host_config)
    changed = False
    for key in _UPDATABLE:
        value = body.get(key)
        if value is None or value == "" or (value == 0 and key != "PidsLimit"):
            continue
        if key in ("CpusetCpus", "CpusetMems"):
            if not isinstance(value, str):
                raise errors.InvalidArgument(f"{key} must be a string")
        elif isinstance(value, bool) or not isinstance(value, int):
            raise errors.InvalidArgument(f"{key} must be an integer")
        if key == "KernelMemory":
            continue  # accepted and ignored, as moby does on kernels without kmem limits
        new[key] = value
        changed = True
    if new.get("NanoCpus") and body.get("NanoCpus"):
        # --cpus replaces a quota/period set before, as in moby
        new["CpuQuota"], new["CpuPeriod"] = 0, 0
    elif body.get("CpuQuota") or body.get("CpuPeriod"):
        new["NanoCpus"] = 0
    if body.get("Memory") and not body.get("MemorySwap"):
        # The recorded MemorySwap stays (create records its 2x default), as docker update.
        old_swap = host_config.get("MemorySwap") or 0
        if old_swap > 0 and body["Memory"] > old_swap:
            raise errors.InvalidArgument(
                f"Cannot update container {container_id}: Memory limit should be smaller than "
                "already set memoryswap limit, update the memoryswap at the same time")
    policy = body.get("RestartPolicy")
    if policy:
        if not isinstance(policy, dict):
            raise errors.InvalidArgument("RestartPolicy must be an object")
        name = policy.get("Name") or "no"
        if name not in ("no", "always", "on-failure", "unless-stopped"):
            raise errors.InvalidArgument(f"invalid restart policy '{name}'")
        if new.get("AutoRemove") and name != "no":
            raise errors.InvalidArgument(
                "Restart policy cannot be updated because AutoRemove is enabled for the "
                "container")
        new["RestartPolicy"] = {"Name": name,
                                "MaximumRetryCount": int(policy.get("MaximumRetryCount") or 0)}
    resources = specresources.resources(new, bool(new.get("Privileged")), os.cpu_count())
    resources.pop("devices", None)
    if status not in ("running", "paused") or not changed:
        return new, {}
    return new, resources
