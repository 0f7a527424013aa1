"""Cgroups that tests make: their names, where they land, and their removal.

Every cgroup parent a test session hands to a berthd, dockerd, shim or runtime is named by
:func:`session_cgroup_name` (``berth-<kind>-<pid>[-<tag>]``, ``pid`` being the test session's
process), so a session can tell the cgroups it made from those of other sessions running on
the same machine at the same time (their pids differ while both run) and of the daemons people
run by hand. :func:`remove_cgroup_tree` removes one such tree from every hierarchy, and
:func:`session_cgroups` lists what a session still has, for a guard that fails on leaks.

A cgroup path lands under each hierarchy's root when absolute; a relative one (dockerd's
``--cgroup-parent`` without a slash, a relative ``cgroupsPath``) lands under the caller's own
cgroup, which on a shared machine is often not the root: both places are searched.

Must not touch a cgroup whose name it was not given, nor remove one that still holds
processes unless asked to kill them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from berth.runtime.cgroups.manager import cgroup_mounts, hierarchy_key, own_cgroups

__all__ = ["cgroup_dirs", "remove_cgroup_tree", "session_cgroup_name", "session_cgroups", "subdirs"]


def session_cgroup_name(kind: str, tag: str = "", pid: int | None = None) -> str:
    """``berth-<kind>-<pid>`` or ``berth-<kind>-<pid>-<tag>``: a cgroup parent this session owns."""
    name = f"berth-{kind}-{os.getpid() if pid is None else pid}"
    return f"{name}-{tag}" if tag else name


def _is_session_name(name: str, pid: int) -> bool:
    # The kind may hold dashes itself ("rt-dockerd"); a tag is a temp dir's name, never a pid.
    return name.startswith("berth-") and str(pid) in name.split("-")[2:]


def _bases() -> list[Path]:
    """Each hierarchy's root, and the test process's own cgroup in it where that differs."""
    v1, unified = cgroup_mounts(Path("/proc/self/mountinfo").read_text())
    own = own_cgroups(Path("/proc/self/cgroup").read_text())
    out: list[Path] = []
    for name, mount in sorted(v1.items()):
        out.append(Path(mount))
        mine = own.get(hierarchy_key(name), "/").strip("/")
        if mine:
            out.append(Path(mount) / mine)
    if unified is not None:
        out.append(Path(unified))
        mine = own.get("", "/").strip("/")
        # A pure v2 host puts a relative path beside the caller's cgroup, not inside it.
        for rel in {mine, os.path.dirname(mine)} - {""}:
            out.append(Path(unified) / rel)
    return out


def cgroup_dirs(rel: str) -> list[Path]:
    """The existing directories for cgroup path ``rel`` in every hierarchy, under its root or
    under this process's own cgroup there."""
    rel = rel.strip("/")
    if not rel:
        return []
    return [b / rel for b in _bases() if (b / rel).is_dir()]


def subdirs(top: Path) -> list[Path]:
    """Every directory below ``top``. A container's cgroups vanish while a stopping daemon's
    shims delete them: a walk that meets one gone skips it (Path.rglob raised
    FileNotFoundError out of a fixture's teardown)."""
    return [Path(parent) / name for parent, dirs, _ in os.walk(top) for name in dirs]


def _pids(d: Path) -> list[int]:
    with contextlib.suppress(OSError, ValueError):
        return [int(x) for x in (d / "cgroup.procs").read_text().split()]
    return []


def remove_cgroup_tree(rel: str, *, kill: bool = False, timeout: float = 5.0) -> list[Path]:
    """Remove cgroup path ``rel`` and everything below it from every hierarchy, deepest first.

    Call it once the daemon or runtime that used the tree has stopped. Processes still inside
    are SIGKILLed when ``kill`` is set; otherwise a cgroup that keeps a process (or does not
    empty within ``timeout``, as exiting processes leave it) is left alone. Returns the
    directories that were removed.
    """
    removed: list[Path] = []
    deadline = time.monotonic() + timeout
    while True:
        busy = False
        for top in cgroup_dirs(rel):
            subs = sorted(subdirs(top), key=lambda p: -len(p.parts))
            for d in [*subs, top]:
                if kill:
                    for pid in _pids(d):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                try:
                    d.rmdir()
                    removed.append(d)
                except FileNotFoundError:
                    pass
                except OSError:
                    busy = True
        if not busy or time.monotonic() >= deadline:
            return removed
        time.sleep(0.02)


def session_cgroups(pid: int | None = None) -> set[Path]:
    """The top-level cgroup directories named for session ``pid`` (this process by default),
    in every hierarchy: what a session that cleaned up after itself no longer has."""
    pid = os.getpid() if pid is None else pid
    found: set[Path] = set()
    for base in _bases():
        with contextlib.suppress(OSError):
            found.update(e for e in base.iterdir() if e.is_dir() and _is_session_name(e.name, pid))
    return found
