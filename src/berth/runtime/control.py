"""Controlling a running container's cgroup: pause/resume (freezer) and live resource updates.

Pause freezes every process of the container at once: cgroup v1 through
``freezer.state`` (FROZEN / THAWED, polled until the kernel reports the transition done, as
runc does), cgroup v2 through ``cgroup.freeze`` (1 / 0, confirmed by ``frozen 1`` in
``cgroup.events``). ``update`` applies OCI ``linux.resources`` with the same mapping as create.
Must not signal processes or touch the state file beyond reading it.
"""

from __future__ import annotations

import os
import time

from berth.errors import Conflict, RuntimeFailure
from berth.runtime import state as statefile
from berth.runtime._suppress import suppress
from berth.runtime.cgroups import manager_for_paths
from berth.runtime.cgroups._fs import read_text, write

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Final

__all__ = ["is_paused", "pause", "resume", "update"]

_SETTLE: Final = 5.0


def _running(state_root: str | os.PathLike[str], container_id: str) -> statefile.ContainerState:
    st = statefile.load(state_root, container_id)
    if statefile.status_of(st) is statefile.Status.STOPPED:
        raise Conflict(f"container {container_id} is not running")
    return st


def _freezer(paths: Mapping[str, str]) -> tuple[str, str]:
    """("v1", dir) for a v1 freezer controller, else ("v2", the unified cgroup)."""
    if "freezer" in paths:
        return "v1", paths["freezer"]
    if "unified" in paths and os.path.exists(os.path.join(paths["unified"], "cgroup.freeze")):
        return "v2", paths["unified"]
    raise RuntimeFailure("no freezer cgroup is available for this container")


def _read(path: str) -> str:
    try:
        return read_text(path)
    except OSError as exc:
        raise RuntimeFailure(f"read {path}: {exc.strerror}") from exc


def _set_frozen(paths: Mapping[str, str], frozen: bool) -> None:
    kind, d = _freezer(paths)
    deadline = time.monotonic() + _SETTLE
    while True:
        if kind == "v1":
            write(f"{d}/freezer.state", "FROZEN" if frozen else "THAWED")
            done = _read(f"{d}/freezer.state").strip() == ("FROZEN" if frozen else "THAWED")
        else:
            write(f"{d}/cgroup.freeze", "1" if frozen else "0")
            events = dict(line.split(" ", 1) for line in _read(f"{d}/cgroup.events").splitlines()
                          if " " in line)
            done = events.get("frozen", "").strip() == ("1" if frozen else "0")
        if done:
            return
        if time.monotonic() > deadline:
            if frozen:  # never leave a half-frozen container behind
                _set_frozen(paths, False)
            raise RuntimeFailure("timed out freezing the container" if frozen
                                 else "timed out thawing the container")
        time.sleep(0.005)


def is_paused(state_root: str | os.PathLike[str], container_id: str) -> bool:
    st = statefile.load(state_root, container_id)
    kind, d = _freezer(st.cgroup_paths)
    if kind == "v1":
        return _read(f"{d}/freezer.state").strip() == "FROZEN"
    return _read(f"{d}/cgroup.freeze").strip() == "1"


def pause(state_root: str | os.PathLike[str], container_id: str) -> None:
    _set_frozen(_running(state_root, container_id).cgroup_paths, True)


def resume(state_root: str | os.PathLike[str], container_id: str) -> None:
    _set_frozen(_running(state_root, container_id).cgroup_paths, False)


def update(state_root: str | os.PathLike[str], container_id: str, resources: Mapping[str, Any]) -> None:
    """Write ``resources`` (OCI linux.resources) to the container's cgroups."""
    st = _running(state_root, container_id)
    mgr = manager_for_paths(st.cgroup_paths)
    swap = (resources.get("memory") or {}).get("swap")
    if swap:
        # v1 refuses a memory limit above memory+swap and memory+swap below the limit:
        # raising both works swap first, lowering both limit first; try swap first.
        with suppress(RuntimeFailure):
            mgr.apply({"memory": {"swap": swap}})
    mgr.apply(resources)
