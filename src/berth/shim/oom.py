"""Whether the kernel's OOM killer struck inside a container's memory cgroup.

Reads the ``oom_kill`` counter (v1 ``memory.oom_control``, v2 ``memory.events``) from the
cgroup paths the runtime recorded; the shim asks before the runtime deletes the cgroup. Must
not write to cgroups.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

__all__ = ["oom_killed"]


def _counter(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def oom_killed(cgroup_paths: Mapping[str, str]) -> bool:
    """True if any process of the cgroup was OOM-killed; unknown counts as False."""
    for name, raw in cgroup_paths.items():
        path = Path(raw)
        if "memory" in name.split(","):
            if _counter(path / "memory.oom_control", "oom_kill"):
                return True
        elif name == "unified" and _counter(path / "memory.events", "oom_kill"):
            return True
    return False
