"""Remove what a test daemon may have left in the kernel: processes in its cgroups, the
cgroups themselves, and mounts under its roots. Used by test fixtures after berthd stops."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from berth.errors import BerthError
from berth.mount import unmount

__all__ = ["cgroup_dirs", "cleanup_daemon_leftovers", "mounts_under"]

_CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_dirs(parent: str) -> list[Path]:
    """Every cgroup directory named ``parent`` (v1 controllers and the unified hierarchy)."""
    if not parent:
        return []
    out = []
    for ctrl in sorted(_CGROUP_ROOT.iterdir()) if _CGROUP_ROOT.exists() else []:
        d = ctrl / parent
        if d.is_dir():
            out.append(d)
    direct = _CGROUP_ROOT / parent
    if direct.is_dir() and (_CGROUP_ROOT / "cgroup.controllers").exists():
        out.append(direct)
    return out


def mounts_under(*roots: Path) -> list[str]:
    found = []
    prefixes = [str(r).rstrip("/") + "/" for r in roots]
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = line.split()[4]
        if any(target.startswith(p) or target + "/" == p for p in prefixes):
            found.append(target)
    return found


def _pids_in(d: Path) -> list[int]:
    pids: list[int] = []
    for sub in [d, *[p for p in d.rglob("*") if p.is_dir()]]:
        with contextlib.suppress(OSError):
            pids += [int(x) for x in (sub / "cgroup.procs").read_text().split()]
    return pids


def cleanup_daemon_leftovers(data_root: Path, exec_root: Path, cgroup_parent: str) -> list[str]:
    """Kill and remove leftovers; return a description of each thing that had to be cleaned."""
    leftovers: list[str] = []
    factory_pid = exec_root / "shim-factory.pid"
    with contextlib.suppress(OSError, ValueError):
        pid = int(factory_pid.read_text())
        if b"berth.shim.factory" in Path(f"/proc/{pid}/cmdline").read_bytes():
            leftovers.append(f"shim factory {pid}")
            os.kill(pid, signal.SIGKILL)
    for d in cgroup_dirs(cgroup_parent):
        for pid in _pids_in(d):
            leftovers.append(f"process {pid} in {d}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    if leftovers:
        time.sleep(0.1)
    for d in cgroup_dirs(cgroup_parent):
        for sub in sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                sub.rmdir()
                leftovers.append(f"cgroup {sub}")
        with contextlib.suppress(OSError):
            d.rmdir()
    for target in sorted(mounts_under(data_root, exec_root), key=len, reverse=True):
        leftovers.append(f"mount {target}")
        with contextlib.suppress(BerthError):
            unmount(target)
    # A daemon killed rather than stopped keeps its bridges and nftables table (live restore):
    # remove them; port rules still present count as leftovers.
    from berth.testing.netcleanup import cleanup_network_leftovers

    leftovers += cleanup_network_leftovers(data_root, "")
    return leftovers
