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

from berth.errors import RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
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


__all__ = ["cgroup_mounts", "detect", "hierarchy_key", "inner_path", "manager_for_paths", "own_cgroups"]


def inner_path(cgroups_path: str | None, container_id: str) -> str:
    """The spec's cgroupsPath cleaned as runc cleans it (``/berth/<id>`` when absent).

    An absolute path stays absolute (under each hierarchy root); a relative one stays relative
    (under the runtime's own cgroup, see :func:`detect`). ``.`` and ``..`` are resolved
    lexically and can never climb above the start, as in runc ("../x" is "x"). A path that
    cleans to nothing would name the root or our own cgroup, which delete would then try to
    remove: refused (runc takes it).
    """
    raw = cgroups_path or f"/berth/{container_id}"
    parts: list[str] = []
    for p in raw.split("/"):
        if p == "..":
            if parts:
                parts.pop()
        elif p not in ("", "."):
            parts.append(p)
    if not parts:
        raise RuntimeFailure(f"invalid cgroupsPath {cgroups_path!r}")
    return ("/" if raw.startswith("/") else "") + "/".join(parts)


def own_cgroups(proc_cgroup: str) -> dict[str, str]:
    """/proc/<pid>/cgroup text as {hierarchy key: path}; v1 keys are the sorted, comma-joined
    controllers without ``name=`` (see :func:`hierarchy_key`), the v2 key is ``""``."""
    own: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        fields = line.split(":", 2)
        if len(fields) == 3:
            own[hierarchy_key(fields[1])] = fields[2]
    return own


def hierarchy_key(controllers: str) -> str:
    """One spelling for a v1 hierarchy whether it comes from mountinfo or /proc/<pid>/cgroup."""
    return ",".join(sorted(c.removeprefix("name=") for c in controllers.split(",") if c))


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
           mountinfo_path: str | os.PathLike[str] = "/proc/self/mountinfo",
           proc_cgroup_path: str | os.PathLike[str] = "/proc/self/cgroup") -> CgroupManager:
    """The manager for this host: v1 (plus the hybrid unified dir) or pure v2.

    Where the cgroup lands follows runc 1.1 (cgroupfs driver): an absolute cgroupsPath is under
    each hierarchy's root; a relative one is under the caller's own cgroup in each v1 hierarchy
    (read from ``proc_cgroup_path``), under the root of a hybrid host's unified hierarchy, and
    under the parent of the caller's own cgroup on a pure v2 host (whose own cgroup has
    processes, so it could not enable controllers for a child). Mount roots are taken as "/".
    """
    from berth.runtime.cgroups.v1 import V1Manager
    from berth.runtime.cgroups.v2 import V2Manager

    inner = inner_path(cgroups_path, container_id)
    relative = not inner.startswith("/")
    inner = inner.lstrip("/")
    with open(mountinfo_path) as f:
        v1, unified = cgroup_mounts(f.read())
    own: dict[str, str] = {}
    if relative:
        with open(proc_cgroup_path) as f:
            own = own_cgroups(f.read())
    if v1:
        paths: dict[str, str] = {}
        for name, root in v1.items():
            base = own.get(hierarchy_key(name), "/") if relative else "/"
            paths[name] = os.path.join(root, base.lstrip("/"), inner)
        if unified is not None:
            paths["unified"] = os.path.join(unified, inner)
        return V1Manager(paths)
    if unified is not None:
        base = os.path.dirname(own.get("", "/")) if relative else "/"
        return V2Manager(os.path.join(unified, base.lstrip("/"), inner))
    raise RuntimeFailure("no cgroup filesystem is mounted")


def manager_for_paths(paths: Mapping[str, str]) -> CgroupManager:
    """Rebuild the manager recorded in runtime state."""
    from berth.runtime.cgroups.v1 import V1Manager
    from berth.runtime.cgroups.v2 import V2Manager

    if set(paths) == {"unified"}:
        return V2Manager(paths["unified"])
    return V1Manager(paths)
