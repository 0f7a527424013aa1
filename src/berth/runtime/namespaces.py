"""Linux namespaces named by the OCI spec: which to create, which to join, and doing so.

Owns the mapping from OCI namespace types to clone flags and the unshare/setns calls.
Must not know about mounts, cgroups or processes.
"""

from __future__ import annotations

import os

from berth.errors import RuntimeFailure
from berth.record import Record
from berth.runtime import _sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, Final

__all__ = ["NAMESPACE_FLAGS", "Namespace", "enter", "needs_middle", "parse_namespaces", "parse_time_offsets",
           "pid_for_children", "restore_pid_for_children", "write_time_offsets"]

NAMESPACE_FLAGS: Final = {
    "pid": _sys.CLONE_NEWPID,
    "network": _sys.CLONE_NEWNET,
    "mount": _sys.CLONE_NEWNS,
    "ipc": _sys.CLONE_NEWIPC,
    "uts": _sys.CLONE_NEWUTS,
    "user": _sys.CLONE_NEWUSER,
    "cgroup": _sys.CLONE_NEWCGROUP,
    "time": _sys.CLONE_NEWTIME,
}

# A user namespace is joined last: once in it we lose our privileges over namespaces owned by
# the initial one (a container's netns made by berthd), while from outside we may join the
# ones it owns.
_JOIN_ORDER: Final = ("ipc", "uts", "network", "pid", "cgroup", "time", "mount", "user")


class Namespace(Record):
    """One ``linux.namespaces`` entry: a new namespace when ``path`` is None, else join it."""

    type: str
    path: str | None = None

    @property
    def flag(self) -> int:
        return NAMESPACE_FLAGS[self.type]


def parse_namespaces(entries: Sequence[dict[str, Any]]) -> list[Namespace]:
    out: list[Namespace] = []
    seen: set[str] = set()
    for entry in entries:
        kind = str(entry.get("type", ""))
        if kind not in NAMESPACE_FLAGS:
            raise RuntimeFailure(f"unknown namespace type {kind!r}")
        if kind in seen:
            raise RuntimeFailure(f"duplicate namespace type {kind!r}")
        seen.add(kind)
        path = entry.get("path") or None
        out.append(Namespace(kind, str(path) if path else None))
    return out


def enter(namespaces: Sequence[Namespace], on_userns: Callable[[], None] | None = None) -> None:
    """Join the namespaces that have a path, then unshare the new ones (calling process only).

    A new pid namespace applies to the caller's children, not the caller: fork afterwards.
    A new user namespace is unshared alone first and ``on_userns`` called (the parent writes
    its maps): the other new namespaces are then owned by it. Joins come before it, while the
    caller still has its privileges in the namespaces being joined.
    """
    by_type = {n.type: n for n in namespaces}
    fds: list[tuple[str, int]] = []
    try:
        for kind in _JOIN_ORDER:
            ns = by_type.get(kind)
            if ns is not None and ns.path:
                try:
                    fds.append((kind, os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC)))
                except OSError as exc:
                    raise RuntimeFailure(f"open {kind} namespace {ns.path}: "
                                         f"{exc.strerror}") from exc
        for kind, fd in fds:
            try:
                _sys.setns(fd, NAMESPACE_FLAGS[kind])
            except OSError as exc:
                raise RuntimeFailure(f"join {kind} namespace: {exc.strerror}") from exc
    finally:
        for _, fd in fds:
            os.close(fd)
    flags = 0
    for ns in namespaces:
        if not ns.path:
            flags |= ns.flag
    if flags & _sys.CLONE_NEWUSER:
        flags &= ~_sys.CLONE_NEWUSER
        try:
            _sys.unshare(_sys.CLONE_NEWUSER)
        except OSError as exc:
            raise RuntimeFailure(f"unshare user namespace: {exc.strerror}") from exc
        if on_userns is not None:
            on_userns()
    if flags:
        try:
            _sys.unshare(flags)
        except OSError as exc:
            raise RuntimeFailure(f"unshare namespaces: {exc.strerror}") from exc


def needs_middle(namespaces: Sequence[Namespace]) -> bool:
    """Whether the init must be forked by a middle process rather than by the caller itself.

    The caller only sets the pid namespace of its children (``pid_for_children``) and the init
    enters the others itself, but not a user namespace (its maps are written from outside, the
    other namespaces must be owned by it, and nobody returns from one) nor a new time namespace
    (like pid, it applies to children only, and going back to one's own needs a single-threaded
    caller, which berth-runtime with its priming thread is not).
    """
    return any(n.type == "user" or (n.type == "time" and not n.path) for n in namespaces)


def pid_for_children(namespaces: Sequence[Namespace]) -> int | None:
    """Put the caller's next children in the spec's pid namespace: a new one, or the one named.

    Returns the caller's own pid namespace, open, for ``restore_pid_for_children`` right after
    the fork; None when the spec has no pid namespace (nothing changed). The caller itself stays
    where it is, and its other threads are not affected (the kernel allows both with threads).
    """
    ns = next((n for n in namespaces if n.type == "pid"), None)
    if ns is None:
        return None
    try:
        own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise RuntimeFailure(f"open own pid namespace: {exc.strerror}") from exc
    try:
        enter((ns,))  # the calling thread's pid_for_children only
    except BaseException:
        os.close(own)
        raise
    return own


def restore_pid_for_children(own: int) -> None:
    """Let the caller's later children (hooks, exec) be born in its own pid namespace again;
    closes ``own`` (what ``pid_for_children`` returned)."""
    try:
        _sys.setns(own, _sys.CLONE_NEWPID)
    except OSError as exc:
        raise RuntimeFailure(f"return to own pid namespace: {exc.strerror}") from exc
    finally:
        os.close(own)


def parse_time_offsets(offsets: Any, new_time_ns: bool) -> tuple[tuple[str, int, int], ...]:
    """``linux.timeOffsets`` as (clock, secs, nanosecs); they need a new time namespace."""
    if not offsets:
        return ()
    if not new_time_ns:
        raise RuntimeFailure("linux.timeOffsets needs a new time namespace")
    out = []
    for clock, value in dict(offsets).items():
        if clock not in ("monotonic", "boottime"):
            raise RuntimeFailure(f"linux.timeOffsets: unknown clock {clock!r}")
        secs, nanos = (value or {}).get("secs", 0), (value or {}).get("nanosecs", 0)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (secs, nanos)):
            raise RuntimeFailure(f"linux.timeOffsets: {clock} must be integers")
        out.append((clock, secs, nanos))
    return tuple(out)


def write_time_offsets(offsets: Sequence[tuple[str, int, int]]) -> None:
    """Set the offsets of the time namespace just unshared (before any process enters it)."""
    if not offsets:
        return
    try:
        with open("/proc/self/timens_offsets", "w") as f:
            f.write("".join(f"{clock} {secs} {nanos}\n" for clock, secs, nanos in offsets))
    except OSError as exc:
        raise RuntimeFailure(f"write time namespace offsets: {exc.strerror}") from exc
