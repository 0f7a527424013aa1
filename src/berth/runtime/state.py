"""The runtime's per-container state directory: ``<state_root>/<id>/state.json``.

Owns the on-disk format and the check that a recorded pid still names the same process.
Written atomically (temp file + rename) so a reader never sees half a file; not fsynced, as
with runc: the file means nothing after a crash of the machine (its processes are gone), and an
fsync on a busy disk stalled ``run`` for 150 ms between ``ready`` and ``start``. The
process start time (field 22 of /proc/<pid>/stat, clock ticks since boot) is stored with the
pid, so a pid reused by an unrelated process is never taken for the container.

Format (version 1)::

    {"version": 1, "id": "...", "pid": 1234, "start_time": 987654, "bundle": "/...",
     "cgroup_paths": {"memory": "/sys/fs/cgroup/memory/berth/<id>", ...},
     "started": false, "created": "2026-11-27T19:54:50.802105202Z",
     "host_rootfs": "", "host_rootfs_keep": 0, "hook_phases": ["poststop"]}

``host_rootfs`` is set only for a container without a mount namespace of its own: its mounts
were made on the rootfs in the caller's namespace, and ``delete`` detaches what is stacked on
that path above the ``host_rootfs_keep`` mounts that were there before ``create``.
``hook_phases`` names which of poststart and poststop the spec had hooks for at create (absent
in files of older versions: unknown), so ``start`` and ``delete`` read config.json again only
to run them.

Must not signal or create processes.
"""

from __future__ import annotations

import errno
import os

from berth.errors import AlreadyExists, Internal, InvalidArgument, NotFound
from berth.record import Record, replace
from berth.runtime import _fastjson
from berth.runtime._suppress import suppress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar, Final

__all__ = ["ContainerState", "Status", "load", "proc_stat", "process_start_time", "remove", "reserve",
           "save", "status_of"]

_FILE = "state.json"
# runc's rule for container IDs, ``^[\w+-\.]+$`` (berthd's are 64 hex digits, a subset); never "."
# or "..". A set, not a regular expression: re's import (enum, functools) is ~7 ms of every start.
_ID_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+.-")


class Status(Record):
    """A container's status, ``Status.CREATED``, ``RUNNING`` or ``STOPPED`` (compare with ``is``);
    ``value`` is the word in runc's state document. A record with three instances rather than an
    Enum: importing enum costs every ``berth-runtime`` command ~5 ms."""

    value: str
    CREATED: ClassVar[Status]
    RUNNING: ClassVar[Status]
    STOPPED: ClassVar[Status]


Status.CREATED = Status("created")
Status.RUNNING = Status("running")
Status.STOPPED = Status("stopped")


class ContainerState(Record):
    id: str
    pid: int
    start_time: int
    bundle: str
    cgroup_paths: dict[str, str]
    started: bool = False
    created: str = ""
    host_rootfs: str = ""
    host_rootfs_keep: int = 0
    hook_phases: tuple[str, ...] | None = None

    def with_started(self) -> ContainerState:
        return replace(self, started=True)

    def to_json(self) -> dict[str, Any]:
        data = {"version": 1, "id": self.id, "pid": self.pid, "start_time": self.start_time,
                "bundle": self.bundle, "cgroup_paths": dict(self.cgroup_paths),
                "started": self.started, "created": self.created,
                "host_rootfs": self.host_rootfs, "host_rootfs_keep": self.host_rootfs_keep}
        if self.hook_phases is not None:
            data["hook_phases"] = list(self.hook_phases)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContainerState:
        return cls(id=str(data["id"]), pid=int(data["pid"]), start_time=int(data["start_time"]),
                   bundle=str(data["bundle"]),
                   cgroup_paths={str(k): str(v) for k, v in data["cgroup_paths"].items()},
                   started=bool(data.get("started", False)), created=str(data.get("created", "")),
                   host_rootfs=str(data.get("host_rootfs", "")),
                   host_rootfs_keep=int(data.get("host_rootfs_keep", 0)),
                   hook_phases=(tuple(str(p) for p in data["hook_phases"])
                                if isinstance(data.get("hook_phases"), list) else None))


def _dir(state_root: str | os.PathLike[str], container_id: str) -> str:
    # Validating keeps runtime IDs safe as path components.
    if not container_id or not _ID_CHARS.issuperset(container_id) or container_id in (".", ".."):
        raise InvalidArgument(f"invalid id format: {container_id}")
    return os.path.join(state_root, container_id)


def proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first, then ppid ...;
    the start time is [19]), or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may contain spaces and parentheses; fields resume after the last ')'.
    return raw[raw.rindex(")") + 2:].split()


def process_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot, or None if there is no such process."""
    fields = proc_stat(pid)
    return None if fields is None else int(fields[19])


def reserve(state_root: str | os.PathLike[str], container_id: str) -> str:
    """Create the state dir; AlreadyExists if a container with this ID is known."""
    path = _dir(state_root, container_id)
    os.makedirs(state_root, mode=0o711, exist_ok=True)
    try:
        os.mkdir(path, mode=0o711)
    except FileExistsError as exc:
        raise AlreadyExists(f"container with id exists: {container_id}") from exc
    return path


def save(state_root: str | os.PathLike[str], st: ContainerState) -> None:
    path = os.path.join(_dir(state_root, st.id), _FILE)
    tmp = os.path.join(_dir(state_root, st.id), f".{_FILE}.tmp")
    try:
        data = _fastjson.dumps(st.to_json()).encode()  # one write, not json.dump's many
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        try:
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, "short write")
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except OSError as exc:
        raise Internal(f"write runtime state {path}: {exc.strerror}") from exc


def load(state_root: str | os.PathLike[str], container_id: str) -> ContainerState:
    path = os.path.join(_dir(state_root, container_id), _FILE)
    try:
        with open(path) as f:
            return ContainerState.from_json(_fastjson.loads(f.read()))
    except FileNotFoundError as exc:
        raise NotFound(f"container {container_id} does not exist") from exc


def status_of(st: ContainerState) -> Status:
    """Created until start() succeeded; stopped once the recorded process is gone."""
    fields = proc_stat(st.pid)
    if fields is None or int(fields[19]) != st.start_time or fields[0] == "Z":
        return Status.STOPPED
    return Status.RUNNING if st.started else Status.CREATED


def remove(state_root: str | os.PathLike[str], container_id: str) -> None:
    """Remove the state dir and whatever is in it; what cannot be removed is left quietly."""
    # Not shutil.rmtree: importing shutil (bz2, lzma, fnmatch) cost ~3 ms of every ``run``.
    # Symlinks are removed, never followed (os.walk lists a link to a dir among the dirs).
    top = _dir(state_root, container_id)
    for parent, dirs, files in os.walk(top, topdown=False):
        for name in files:
            with suppress(OSError):
                os.unlink(os.path.join(parent, name))
        for name in dirs:
            path = os.path.join(parent, name)
            with suppress(OSError):
                if os.path.islink(path):
                    os.unlink(path)
                else:
                    os.rmdir(path)
    with suppress(OSError):
        os.rmdir(top)
