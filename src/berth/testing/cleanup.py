"""Remove what a test daemon may have left in the kernel: processes in its cgroups, the
cgroups themselves, and mounts under its roots. Used by test fixtures after berthd stops."""

from __future__ import annotations

import contextlib
import os
import select
import signal
from pathlib import Path

from berth.errors import BerthError
from berth.mount import unmount
from berth.testing.cgroups import cgroup_dirs, remove_cgroup_tree, subdirs

__all__ = ["cleanup_daemon_leftovers", "mounts_under"]

_FACTORY_GRACE = 5.0


def mounts_under(*roots: Path) -> list[str]:
    found = []
    prefixes = [str(r).rstrip("/") + "/" for r in roots]
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = line.split()[4]
        if any(target.startswith(p) or target + "/" == p for p in prefixes):
            found.append(target)
    return found


def cleanup_daemon_leftovers(data_root: Path, exec_root: Path, cgroup_parent: str) -> list[str]:
    """Kill and remove leftovers; return a description of each thing that had to be cleaned."""
    leftovers: list[str] = []
    factory_pid = exec_root / "shim-factory.pid"
    with contextlib.suppress(OSError, ValueError):
        pid = int(factory_pid.read_text())
        pidfd = os.pidfd_open(pid)
        try:
            # The factory follows berthd's life (a pidfd on it): give it a moment to leave
            # once berthd is gone; one still there after that is a leftover.
            if (b"berth.shim.factory" in Path(f"/proc/{pid}/cmdline").read_bytes()
                    and not select.select([pidfd], [], [], _FACTORY_GRACE)[0]):
                leftovers.append(f"shim factory {pid}")
                os.kill(pid, signal.SIGKILL)
        finally:
            os.close(pidfd)
    # Containers still running in the daemon's cgroups are leftovers; the tree itself is
    # removed in every hierarchy, but only what was below it (containers' cgroups) is reported.
    for d in cgroup_dirs(cgroup_parent):
        for sub in [d, *subdirs(d)]:
            with contextlib.suppress(OSError, ValueError):
                leftovers += [f"process {pid} in {sub}" for pid in (sub / "cgroup.procs").read_text().split()]
    if cgroup_parent:
        tops = set(cgroup_dirs(cgroup_parent))
        leftovers += [f"cgroup {d}" for d in remove_cgroup_tree(cgroup_parent, kill=True) if d not in tops]
    for target in sorted(mounts_under(data_root, exec_root), key=len, reverse=True):
        leftovers.append(f"mount {target}")
        with contextlib.suppress(BerthError):
            unmount(target)
    # A daemon killed rather than stopped keeps its bridges and nftables table (live restore):
    # remove them; port rules still present count as leftovers.
    from berth.testing.netcleanup import cleanup_network_leftovers

    leftovers += cleanup_network_leftovers(data_root, "")
    return leftovers
