"""Start, state, kill and delete: the operations on a container that already exists.

Re-exported by ``berth.runtime.container`` (the runtime's public API). Kept apart from the
create path so that ``berth-runtime start/state/kill/delete`` — four of the five commands
containerd runs per container — import none of what creating needs (mounts, namespaces,
devices, capabilities, seccomp, ctypes): ~10 ms less of every such command.
Must not create processes (hooks excepted).
"""

from __future__ import annotations

import os
import time

from berth.errors import BerthError, Conflict, RuntimeFailure
from berth.record import Record, field
from berth.runtime import _fastjson, hooks
from berth.runtime import state as statefile
from berth.runtime._suppress import suppress
from berth.runtime.cgroups import manager_for_paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Mapping
    from typing import Any, Final

    from berth.runtime.cgroups import CgroupManager
else:
    # signal's functions and constants without its IntEnums (enum: ~5 ms of every start);
    # mypy has no stub for _signal and checks the calls against signal's.
    import _signal as signal

__all__ = ["EXEC_FIFO", "ContainerInfo", "cgroup_pids", "delete", "kill", "start_detached", "state"]

# In the state dir: the init of a container created with ``exec_fifo`` waits on it for start.
EXEC_FIFO: Final = "exec.fifo"


class ContainerInfo(Record):
    """What ``state`` reports, in the OCI runtime's vocabulary."""

    id: str
    pid: int
    status: statefile.Status
    bundle: str
    cgroup_paths: Mapping[str, str] = field(default_factory=dict)


def _load_spec(bundle: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        with open(os.path.join(bundle, "config.json")) as f:
            spec = _fastjson.loads(f.read())
    except FileNotFoundError as exc:
        raise RuntimeFailure(f"bundle {bundle} has no config.json") from exc
    except (OSError, ValueError) as exc:
        raise RuntimeFailure(f"read {bundle}/config.json: {exc}") from exc
    if not isinstance(spec, dict):
        raise RuntimeFailure("config.json is not a JSON object")
    return spec


def _kill_cgroup(mgr: CgroupManager, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        pids = mgr.pids()
        if not pids:
            return
        for p in pids:
            with suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise RuntimeFailure(f"processes {pids} survived SIGKILL")
        time.sleep(0.01)


def start_detached(state_root: str | os.PathLike[str], container_id: str) -> None:
    """Release the init of a container created with ``exec_fifo`` (``runc start``)."""
    st = statefile.load(state_root, container_id)
    path = os.path.join(state_root, container_id, EXEC_FIFO)
    if st.started or not os.path.exists(path):
        raise Conflict("cannot start a container that has stopped" if
                       statefile.status_of(st) is statefile.Status.STOPPED
                       else "cannot start an already running container")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:  # ENXIO: no reader, the init is gone
        raise Conflict("cannot start a container that has stopped") from exc
    try:
        os.write(fd, b"0")
    finally:
        os.close(fd)
    with suppress(OSError):
        os.unlink(path)
    statefile.save(state_root, st.with_started())
    _late_hooks(st, "poststart", "running")


def _late_hooks(st: statefile.ContainerState, phase: str, status: str) -> None:
    """poststart/poststop: the spec has a failure here only warned about, never fatal."""
    if st.hook_phases is not None and phase not in st.hook_phases:
        return  # none at create: no read of config.json (~1 ms) on start's and delete's path
    try:
        spec = _load_spec(st.bundle)
        found = hooks.parse_hooks(spec.get("hooks")).get(phase, ())
        if found:
            hooks.run_hooks(phase, found, hooks.state_document(
                st.id, status, st.pid, st.bundle, spec.get("annotations") or {}))
    except BerthError:
        pass


def state(state_root: str | os.PathLike[str], container_id: str) -> ContainerInfo:
    """The container's recorded pid and live status; NotFound if the runtime does not know it."""
    st = statefile.load(state_root, container_id)
    return ContainerInfo(st.id, st.pid, statefile.status_of(st), st.bundle, dict(st.cgroup_paths))


def cgroup_pids(state_root: str | os.PathLike[str], container_id: str) -> list[int]:
    """Host PIDs of every process in the container's cgroup."""
    st = statefile.load(state_root, container_id)
    return manager_for_paths(st.cgroup_paths).pids()


def kill(state_root: str | os.PathLike[str], container_id: str, sig: int, all: bool = False) -> None:
    """Signal the init (or, with ``all``, every process in the cgroup)."""
    st = statefile.load(state_root, container_id)
    if all:
        for p in manager_for_paths(st.cgroup_paths).pids():
            with suppress(ProcessLookupError):
                os.kill(p, sig)
        return
    if statefile.status_of(st) is statefile.Status.STOPPED:
        raise Conflict(f"container {container_id} is not running")
    try:
        os.kill(st.pid, sig)
    except ProcessLookupError as exc:
        raise Conflict(f"container {container_id} is not running") from exc


def delete(state_root: str | os.PathLike[str], container_id: str) -> None:
    """Kill whatever is left in the container's cgroup, remove the cgroup and the statefile."""
    st = statefile.load(state_root, container_id)
    if statefile.status_of(st) is not statefile.Status.STOPPED:
        with suppress(ProcessLookupError):
            os.kill(st.pid, signal.SIGKILL)
    mgr = manager_for_paths(st.cgroup_paths)
    _kill_cgroup(mgr)
    mgr.destroy()
    if st.host_rootfs:
        from berth.runtime import rootfs  # only containers without a mount namespace

        rootfs.detach_mounts(st.host_rootfs, st.host_rootfs_keep)
    _late_hooks(st, "poststop", "stopped")
    statefile.remove(state_root, container_id)
