"""The cgroup manager contract and the choice of backend for this host.

Lifecycle: ``create()`` makes the container's cgroup directories (existing ones are joined),
``apply(resources)`` writes limits, ``join(pid)`` moves a process in (0 = the caller),
``pids()`` lists members, ``destroy()`` removes the directories (the caller kills members
first). ``paths`` maps each controller (or ``"unified"``) to its directory and is recorded
in runtime state, so a later process can rebuild the manager with :func:`manager_for_paths`.

Must not fork, signal or know about namespaces.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from berth.errors import RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol

    # Type-checking only: importing typing costs every runtime command ~4 ms.
    class CgroupManager(Protocol):
        @property
        def paths(self) -> Mapping[str, str]: ...

        def create(self) -> None: ...

        def apply(self, resources: Mapping[str, Any]) -> None: ...

        def join(self, pid: int) -> None: ...

        def pids(self) -> list[int]: ...

        def destroy(self) -> None: ...


__all__ = ["cgroup_mounts", "detect", "manager_for_paths", "relative_path"]


def relative_path(cgroups_path: str | None, container_id: str) -> str:
    """The spec's cgroupsPath as a path under each hierarchy root (``berth/<id>`` by default).

    Absolute and relative forms both name a directory under the hierarchy root, as
    docs/internals.md fixes; anything escaping the root is refused.
    """
    raw = (cgroups_path or f"berth/{container_id}").strip("/")
    parts = [p for p in raw.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts) or ":" in raw:
        raise RuntimeFailure(f"invalid cgroupsPath {cgroups_path!r}")
    return "/".join(parts)


def cgroup_mounts(mountinfo: str) -> tuple[dict[str, str], str | None]:
    """(v1 hierarchy name -> mount point, cgroup2 mount point) parsed from mountinfo text.

    A v1 hierarchy is named by its comma-joined controllers ("cpu,cpuacct") or its name=.
    """
    v1: dict[str, str] = {}
    unified: str | None = None
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        rfields = right.split()
        if len(fields) < 5 or len(rfields) < 3:
            continue
        fstype, mount_point = rfields[0], fields[4]
        if fstype == "cgroup2" and unified is None:
            unified = mount_point
        elif fstype == "cgroup":
            opts = [o for o in rfields[2].split(",")
                    if o not in ("rw", "ro") and not o.startswith(("release_agent", "clone"))]
            controllers = [o.removeprefix("name=") if o.startswith("name=") else o for o in opts
                           if o not in ("noprefix", "xattr", "cpuset_v2_mode")]
            if controllers:
                v1.setdefault(",".join(controllers), mount_point)
    return v1, unified


def detect(cgroups_path: str | None, container_id: str,
           mountinfo_path: str | os.PathLike[str] = "/proc/self/mountinfo") -> CgroupManager:
    """The manager for this host: v1 (plus the hybrid unified dir) or pure v2."""
    from berth.runtime.cgroups.v1 import V1Manager
    from berth.runtime.cgroups.v2 import V2Manager

    rel = relative_path(cgroups_path, container_id)
    with open(mountinfo_path) as f:
        v1, unified = cgroup_mounts(f.read())
    if v1:
        paths = {name: os.path.join(root, rel) for name, root in v1.items()}
        if unified is not None:
            paths["unified"] = os.path.join(unified, rel)
        return V1Manager(paths)
    if unified is not None:
        return V2Manager(os.path.join(unified, rel))
    raise RuntimeFailure("no cgroup filesystem is mounted")


def manager_for_paths(paths: Mapping[str, str]) -> CgroupManager:
    """Rebuild the manager recorded in runtime state."""
    from berth.runtime.cgroups.v1 import V1Manager
    from berth.runtime.cgroups.v2 import V2Manager

    if set(paths) == {"unified"}:
        return V2Manager(paths["unified"])
    return V1Manager(paths)
