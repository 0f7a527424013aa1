"""What a dead shim leaves in the kernel and the exec root, swept at berthd start.

A shim deletes its container through the runtime when the init exits (runtime state dir
``<exec-root>/runtime/<id>``, the container's cgroups in every hierarchy). A shim killed
(kill -9, an OOM kill, a machine that ran out of pids) never does: the state dir and the
empty cgroups stay, and the next ``start`` of that container failed with "container with
id exists". berthd's start removes them, from the runtime's own records, for every
container (recorded or not) whose processes are all gone:

- a state dir whose init is alive (its pid and start time still match) belongs to a live
  container and is left, whoever its shim was; so is one whose cgroup still holds any
  process. Nothing here signals a process.
- the cgroups are removed with rmdir only, which the kernel refuses for a cgroup that holds
  a process or a child cgroup; cgroups of the configured parent named by a container ID
  but with no state dir (the shim factory makes them ahead of the create, berth.shim.
  cgroupsahead) go the same way when empty.
- a state dir without its ``state.json`` is a create that died between reserving the ID and
  recording the init; one older than a minute is removed (a create takes milliseconds).

Runs before berthd re-adopts or restarts anything, so no container it starts is mistaken
for a dead one. A container run by runc or crun (``runtime/runc/<id>``, ``runtime/crun/<id>``)
goes through that runtime's own ``state`` and ``delete``, under the same rules, and the
rootfs its shim mounted on the bundle is unmounted. Must not decide which containers exist
(``berth.services.containers`` does).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import time
from pathlib import Path

from berth import errors
from berth.runtime import manage
from berth.runtime import state as statefile
from berth.runtime.cgroups import manager as cgroups
from berth.services import shimruntime

__all__ = ["sweep_dead_containers"]

_log = logging.getLogger("berth.containers")

# A state dir without state.json younger than this may be a create in progress.
_UNFINISHED_CREATE = 60.0


def _is_container_id(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def sweep_dead_containers(runtime_root: Path, cgroup_parent: str) -> list[str]:
    """Remove the runtime state and cgroups of containers whose processes are all gone;
    returns the IDs swept."""
    swept: list[str] = []
    with_state: set[str] = set()
    if runtime_root.is_dir():
        for entry in sorted(runtime_root.iterdir()):
            if not _is_container_id(entry.name) or not entry.is_dir() or entry.is_symlink():
                continue
            with_state.add(entry.name)
            if _sweep_state(runtime_root, entry):
                swept.append(entry.name)
        for other in shimruntime.RUNTIMES:  # their containers' cgroups are theirs too
            with contextlib.suppress(OSError):
                for cid in sorted(os.listdir(runtime_root / other)):
                    if not _is_container_id(cid):
                        continue
                    with_state.add(cid)
                    if _sweep_other(runtime_root, other, cid):
                        swept.append(cid)
    if cgroup_parent:
        for cid in _cgroup_children(cgroup_parent) - with_state:
            mgr = cgroups.detect(f"/{cgroup_parent}/{cid}", cid)
            if _remove_if_empty(mgr, cid):
                swept.append(cid)
    return swept


def _sweep_state(runtime_root: Path, entry: Path) -> bool:
    cid = entry.name
    try:
        st = statefile.load(runtime_root, cid)
    except errors.NotFound:
        if time.time() - entry.stat().st_mtime < _UNFINISHED_CREATE:
            return False
        _log.info("removing the state of a create of %s that never finished", cid[:12])
        statefile.remove(runtime_root, cid)
        return True
    except (OSError, ValueError, errors.BerthError) as err:
        _log.warning("runtime state of %s: %s", cid[:12], err)
        return False
    if statefile.status_of(st) is not statefile.Status.STOPPED:
        return False  # a live container, whether or not its shim still runs
    mgr = cgroups.manager_for_paths(st.cgroup_paths)
    if not _remove_if_empty(mgr, cid):
        return False
    try:
        # The runtime's own delete: poststop hooks, mounts of a container without a mount
        # namespace, the state dir. Its cgroups are gone already, so it signals nothing.
        manage.delete(runtime_root, cid)
    except errors.BerthError as err:
        _log.warning("deleting the dead container %s: %s", cid[:12], err)
        statefile.remove(runtime_root, cid)
    _log.info("swept the runtime state and cgroups of %s, whose shim died", cid[:12])
    return True


def _sweep_other(runtime_root: Path, binary: str, cid: str) -> bool:
    """runc's or crun's stopped container: their own delete (cgroups, state), once its cgroup
    is empty, and the rootfs the shim mounted on the bundle for it."""
    try:
        st = shimruntime.state(runtime_root, binary, cid)
        if st is None:
            return False
        if st.get("status") != "stopped":
            return False  # a live container, whether or not its shim still runs
        spec = json.loads((Path(str(st.get("bundle") or "")) / "config.json").read_text())
        mgr = cgroups.detect((spec.get("linux") or {}).get("cgroupsPath"), cid)
        if mgr.pids():
            _log.warning("container %s has no live init but processes in its cgroup: left",
                         cid[:12])
            return False
        shimruntime.delete(runtime_root, binary, cid, st, force=False)
    except (OSError, ValueError, subprocess.SubprocessError, errors.BerthError) as err:
        _log.warning("%s container %s whose shim died: %s", binary, cid[:12], err)
        return False
    _log.info("swept the %s state, cgroups and rootfs of %s, whose shim died", binary, cid[:12])
    return True


def _remove_if_empty(mgr: cgroups.CgroupManager, cid: str) -> bool:
    try:
        if mgr.pids():
            _log.warning("container %s has no live init but processes in its cgroup: left",
                         cid[:12])
            return False
    except (OSError, errors.BerthError):
        pass  # no such cgroup in the hierarchy it reads: nothing to keep it for
    for path in mgr.paths.values():
        try:
            os.rmdir(path)
        except FileNotFoundError:
            continue
        except OSError as err:  # EBUSY: a process or a child cgroup appeared; keep it all
            _log.warning("cgroup %s of %s: %s; left", path, cid[:12], err.strerror)
            return False
    return True


def _cgroup_children(cgroup_parent: str) -> set[str]:
    """Container IDs named by a cgroup under the parent, in any hierarchy."""
    probe = cgroups.detect(f"/{cgroup_parent}/probe", "probe")
    found: set[str] = set()
    for path in probe.paths.values():
        try:
            names = os.listdir(os.path.dirname(path))
        except OSError:
            continue
        found.update(n for n in names if _is_container_id(n))
    return found
