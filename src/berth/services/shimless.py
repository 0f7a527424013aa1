"""Ending a container whose shim is gone while its processes may still run.

The shim is what supervises a container: it reaps the init, records its exit, writes its
log and answers stop, kill, exec and attach. A shim killed (kill -9, an OOM kill) leaves
the init running with nobody to do any of that; berthd finds out when the shim stops
answering (its re-adoption at start, or the monitor losing it) and its process is gone
(berth.services.shimreach: a live shim that merely refuses connections keeps its container,
which is never ended here). Left running, the container
sat behind a record saying "exited" with its network torn down, and ``docker start`` failed
on the runtime state and cgroups it still held until the process died on its own.

berthd decides as containerd does after a dead shim (its cleanup runs the shim's delete,
which force-deletes the container through the runtime: every process in its cgroup is
SIGKILLed, the cgroups and the runtime state go, then the exit is published with status
128 + SIGKILL): :func:`end_container` kills whatever is left of the container (thawed first
when paused: a frozen process dies only once thawed) and deletes it through its runtime, so
the container can be started again. Re-supervising the live process with a new shim was
not chosen: a pidfd can watch a non-child but not learn its exit status, the init's stdio
pipes died with the old shim (its next write gets SIGPIPE, its log is lost), and an
attach or ``logs -f`` could never see its output again.

Must not touch the container's record, network or directories under the exec root
(``berth.services.containers`` does); runs off the event loop (it waits for the kill).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from pathlib import Path

from berth import errors
from berth.runtime import control, manage
from berth.runtime import state as statefile
from berth.runtime.cgroups import manager as cgroups
from berth.services import shimruntime

__all__ = ["KILLED_EXIT_CODE", "end_container"]

_log = logging.getLogger("berth.containers")

# The status containerd's runc shim reports for a container it force-deleted after its
# shim died (128 + SIGKILL); Docker shows it as the container's exit code.
KILLED_EXIT_CODE = 128 + signal.SIGKILL


def end_container(runtime_root: Path, cid: str) -> bool:
    """Kill and delete, through its runtime, whatever is left of container ``cid``; True if a
    process of it was still alive (then it was killed), False if nothing was left running."""
    try:
        st = statefile.load(runtime_root, cid)
    except errors.NotFound:
        for other in shimruntime.RUNTIMES:
            if (runtime_root / other / cid).is_dir():
                return _end_other(runtime_root, other, cid)
        return False
    except (OSError, ValueError, errors.BerthError) as err:
        _log.warning("runtime state of %s, whose shim died: %s", cid[:12], err)
        return False
    return _end_berth(runtime_root, st)


def _end_berth(runtime_root: Path, st: statefile.ContainerState) -> bool:
    cid = st.id
    mgr = cgroups.manager_for_paths(st.cgroup_paths)
    try:
        pids = mgr.pids()
    except (OSError, errors.BerthError):
        pids = []
    alive = bool(pids) or statefile.status_of(st) is not statefile.Status.STOPPED
    if alive:
        _log.warning("container %s runs without its shim: killing it", cid[:12])
        # Signalled while frozen, delivered on the thaw: nothing runs in between.
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            if control.is_paused(runtime_root, cid):
                control.resume(runtime_root, cid)
        except errors.BerthError as err:
            _log.warning("thawing %s: %s", cid[:12], err)
    try:
        # The runtime's own delete kills the init and whatever else its cgroup holds (and
        # waits for them), removes the cgroups, poststop hooks, the state dir.
        manage.delete(runtime_root, cid)
    except (OSError, errors.BerthError) as err:  # e.g. a dying shim's own delete got there first
        _log.warning("deleting %s, whose shim died: %s", cid[:12], err)
    return alive


def _end_other(runtime_root: Path, binary: str, cid: str) -> bool:
    """runc's or crun's container: its ``delete --force`` (thaws, kills, removes cgroups and
    state), then the rootfs the shim mounted on the bundle."""
    try:
        st = shimruntime.state(runtime_root, binary, cid)
        if st is None:
            return False
        alive = st.get("status") != "stopped"
        if alive:
            _log.warning("%s container %s runs without its shim: killing it", binary, cid[:12])
        shimruntime.delete(runtime_root, binary, cid, st, force=True)
    except (OSError, ValueError, subprocess.SubprocessError, errors.BerthError) as err:
        _log.warning("%s container %s whose shim died: %s", binary, cid[:12], err)
        return False
    return alive
