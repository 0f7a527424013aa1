"""The user process's identity and environment: user/groups, capabilities, rlimits, env, cwd,
and finding the executable.

Runs in the container's init after pivot_root. Owns Docker's ``--user`` resolution against
the container's own /etc/passwd and /etc/group and the exact error wording clients map to exit
codes 126/127. Must not mount, fork or talk to the caller.
"""

from __future__ import annotations

import os
import resource
import stat

from berth.errors import RuntimeFailure
from berth.oci.capabilities import CAP_NUMBERS
from berth.record import Record, replace
from berth.runtime import _sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any, Final

__all__ = [
    "DEFAULT_PATH",
    "Capabilities",
    "Scheduler",
    "User",
    "add_groups",
    "apply_capabilities",
    "apply_rlimits",
    "build_env",
    "find_executable",
    "io_priority",
    "parse_capabilities",
    "persona",
    "resolve_user",
    "scheduler",
    "set_io_priority",
    "set_persona",
    "set_scheduler",
    "switch_user",
    "umask_of",
]

DEFAULT_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_PR_SET_KEEPCAPS: Final = 8
_PR_SET_NO_NEW_PRIVS: Final = 38


class User(Record):
    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()
    home: str = "/"


class Capabilities(Record):
    """Each set as a bit mask over kernel capability numbers."""

    bounding: int = 0
    effective: int = 0
    permitted: int = 0
    inheritable: int = 0
    ambient: int = 0


def _read_db(path: str) -> list[list[str]]:
    # Raw reads, not open(): a text file object (fstat, ioctl, lseek, a decoder) is most of
    # the cost of reading a few lines in the init.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError:
        return []
    finally:
        os.close(fd)
    # bytes.splitlines: \n, \r\n and \r, as a text file's universal newlines
    lines = [raw.decode("utf-8", "surrogateescape") for raw in b"".join(chunks).splitlines()]
    return [line.split(":") for line in lines if line.strip() and not line.startswith("#")]


def resolve_user(spec_user: Mapping[str, Any], annotation: str | None,
                 passwd: str = "/etc/passwd", group: str = "/etc/group") -> User:
    """The process identity: ``process.user``, or Docker's ``--user`` string when annotated.

    Mirrors Docker: a name must exist in passwd; a numeric uid need not (gid then 0); the
    primary group comes from passwd unless given; supplementary groups are the user's
    primary group, the user's memberships in /etc/group and ``additionalGids``.
    """
    extra = tuple(int(g) for g in spec_user.get("additionalGids") or ())
    users = [e for e in _read_db(passwd) if len(e) >= 7]
    if not annotation:
        uid = int(spec_user.get("uid", 0))
        gid = int(spec_user.get("gid", 0))
        home = next((e[5] for e in users if e[2] == str(uid)), "/")
        return User(uid, gid, extra, home)
    groups = [e for e in _read_db(group) if len(e) >= 3]
    user_part, _, group_part = annotation.partition(":")
    entry: list[str] | None = None
    if user_part.isdigit():
        entry = next((e for e in users if e[2] == user_part), None)
        uid = int(user_part)
        gid = int(entry[3]) if entry else 0
    else:
        entry = next((e for e in users if e[0] == user_part), None)
        if entry is None:
            raise RuntimeFailure(
                f"unable to find user {user_part}: no matching entries in passwd file")
        uid, gid = int(entry[2]), int(entry[3])
    if group_part:
        if group_part.isdigit():
            gid = int(group_part)
        else:
            g = next((e for e in groups if e[0] == group_part), None)
            if g is None:
                raise RuntimeFailure(
                    f"unable to find group {group_part}: no matching entries in group file")
            gid = int(g[2])
    # The primary group is also a supplementary group, as Docker sets it (CVE-2023-25173).
    supplementary: list[int] = [gid]
    if entry is not None and not group_part:
        supplementary += [int(g[2]) for g in groups
                          if entry[0] in g[3].split(",") and g[2].isdigit()]
    all_extra = tuple(dict.fromkeys([*supplementary, *extra]))
    return User(uid, gid, all_extra, entry[5] if entry else "/")


def add_groups(user: User, names: str | None, group: str = "/etc/group") -> User:
    """``--group-add`` names (the ``berth.groups`` annotation) added to the supplementary groups."""
    if not names:
        return user
    groups = [e for e in _read_db(group) if len(e) >= 3]
    extra = list(user.additional_gids)
    for name in names.split(","):
        g = next((e for e in groups if e[0] == name), None)
        if g is None or not g[2].isdigit():
            raise RuntimeFailure(f"Unable to find group {name}: no matching entries in group file")
        extra.append(int(g[2]))
    return replace(user, additional_gids=tuple(dict.fromkeys(extra)))


def _mask(names: Sequence[str] | None) -> int:
    mask = 0
    for name in names or ():
        number = CAP_NUMBERS.get(name)
        if number is None:
            raise RuntimeFailure(f"unknown capability {name!r}")
        mask |= 1 << number
    return mask


def parse_capabilities(spec: Mapping[str, Any] | None) -> Capabilities:
    spec = spec or {}
    return Capabilities(_mask(spec.get("bounding")), _mask(spec.get("effective")),
                        _mask(spec.get("permitted")), _mask(spec.get("inheritable")),
                        _mask(spec.get("ambient")))


def umask_of(spec_user: Mapping[str, Any] | None) -> int:
    """``process.user.umask``; 0022 when unset, as runc gives every container process."""
    value = (spec_user or {}).get("umask")
    if value is None:
        return 0o022
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o777:
        raise RuntimeFailure(f"invalid process.user.umask {value!r}")
    return value


_PERSONAS: Final = {"LINUX": 0x0000, "LINUX32": 0x0008}
_IO_CLASSES: Final = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}


def persona(spec: Mapping[str, Any] | None) -> int | None:
    """``linux.personality`` as personality(2)'s argument; None when unset."""
    if not spec:
        return None
    domain = spec.get("domain")
    if domain not in _PERSONAS:
        raise RuntimeFailure(f"linux.personality: unsupported domain {domain!r}")
    if spec.get("flags"):
        raise RuntimeFailure(f"linux.personality: unsupported flags {spec['flags']!r}")
    value: int = _PERSONAS[domain]
    return value


def _set(what: str, call: Callable[[int], object], value: int | None) -> None:
    """``call(value)`` unless ``value`` is None; its errno becomes a RuntimeFailure about ``what``."""
    if value is None:
        return
    try:
        call(value)
    except OSError as exc:
        raise RuntimeFailure(f"set {what}: {exc.strerror}") from exc


def set_persona(value: int | None) -> None:
    _set("personality", _sys.personality, value)


def io_priority(spec: Mapping[str, Any] | None) -> int | None:
    """``process.ioPriority`` as ioprio_set(2)'s value (class << 13 | level); None when unset."""
    if not spec:
        return None
    klass = _IO_CLASSES.get(str(spec.get("class")))
    level = spec.get("priority", 0)
    if klass is None:
        raise RuntimeFailure(f"process.ioPriority: unknown class {spec.get('class')!r}")
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 7:
        raise RuntimeFailure(f"process.ioPriority: priority {level!r} is not 0..7")
    return klass << 13 | level


def set_io_priority(value: int | None) -> None:
    _set("io priority", _sys.ioprio_set, value)


_POLICIES: Final = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3,
                    "SCHED_ISO": 4, "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}
_SCHED_FLAGS: Final = {"SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02,
                       "SCHED_FLAG_DL_OVERRUN": 0x04, "SCHED_FLAG_KEEP_POLICY": 0x08,
                       "SCHED_FLAG_KEEP_PARAMS": 0x10, "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
                       "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40}


class Scheduler(Record):
    """``process.scheduler`` as sched_setattr(2) takes it."""

    policy: int
    flags: int = 0
    nice: int = 0
    priority: int = 0
    runtime: int = 0
    deadline: int = 0
    period: int = 0


def scheduler(spec: Mapping[str, Any] | None) -> Scheduler | None:
    if not spec:
        return None
    policy = _POLICIES.get(str(spec.get("policy")))
    if policy is None:
        raise RuntimeFailure(f"process.scheduler: unknown policy {spec.get('policy')!r}")
    flags = 0
    for name in spec.get("flags") or ():
        if name not in _SCHED_FLAGS:
            raise RuntimeFailure(f"process.scheduler: unknown flag {name!r}")
        flags |= _SCHED_FLAGS[name]
    values = {k: spec.get(k, 0) for k in ("nice", "priority", "runtime", "deadline", "period")}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise RuntimeFailure(f"process.scheduler: {key} must be an integer")
    return Scheduler(policy, flags, **values)


def set_scheduler(attr: Scheduler | None) -> None:
    if attr is None:
        return
    try:
        _sys.sched_setattr(attr.policy, attr.flags, attr.nice, attr.priority, attr.runtime,
                           attr.deadline, attr.period)
    except OSError as exc:
        raise RuntimeFailure(f"set scheduler: {exc.strerror}") from exc


def apply_rlimits(rlimits: Sequence[Mapping[str, Any]]) -> None:
    for r in rlimits:
        name = str(r.get("type", ""))
        number = getattr(resource, name, None) if name.startswith("RLIMIT_") else None
        if not isinstance(number, int):
            raise RuntimeFailure(f"unknown rlimit {name!r}")
        soft, hard = int(r.get("soft", 0)), int(r.get("hard", 0))
        try:
            resource.setrlimit(number, (soft, hard))
        except (OSError, ValueError) as exc:
            raise RuntimeFailure(f"setrlimit {name} {soft}:{hard}: {exc}") from exc


def switch_user(user: User, caps: Capabilities) -> None:
    """Drop to ``user`` keeping exactly ``caps``; the process must still be fully privileged.

    Capabilities this host never granted us (outside our own bounding set) are left out
    rather than failing, so a privileged spec still runs where the host lacks one.
    """
    current = _sys.capget()
    held = current.permitted
    try:
        for number in range(len(CAP_NUMBERS)):
            if not caps.bounding & (1 << number):
                try:
                    _sys.capbset_drop(number)
                except OSError:
                    continue  # capabilities the kernel does not know cannot be dropped
        _sys.prctl(_PR_SET_KEEPCAPS, 1)
        os.setgroups(list(user.additional_gids))
        os.setresgid(user.gid, user.gid, user.gid)
        os.setresuid(user.uid, user.uid, user.uid)
        _sys.capset(_sys.CapSets(caps.effective & held, caps.permitted & held,
                                 caps.inheritable & held))
        _sys.prctl(_PR_SET_KEEPCAPS, 0)
        for number in range(len(CAP_NUMBERS)):
            bit = 1 << number
            if caps.ambient & bit and caps.permitted & caps.inheritable & held & bit:
                _sys.cap_ambient_raise(number)
    except OSError as exc:
        raise RuntimeFailure(f"set user {user.uid}:{user.gid} and capabilities: "
                             f"{exc.strerror}") from exc


def apply_capabilities(no_new_privileges: bool) -> None:
    if no_new_privileges:
        try:
            _sys.prctl(_PR_SET_NO_NEW_PRIVS, 1)
        except OSError as exc:
            raise RuntimeFailure(f"set no_new_privs: {exc.strerror}") from exc


def build_env(env: Sequence[str], user: User) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env:
        key, sep, value = item.partition("=")
        if key and sep:
            out[key] = value
    out.setdefault("HOME", user.home or "/")
    return out


def _check_executable(path: str, name: str) -> str:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise RuntimeFailure(f'exec: "{name}": stat {path}: {exc.strerror.lower()}'
                             if exc.strerror else f'exec: "{name}": {exc}') from exc
    if stat.S_ISDIR(st.st_mode):
        raise RuntimeFailure(f'exec: "{name}": is a directory')
    if not st.st_mode & 0o111:
        raise RuntimeFailure(f'exec: "{name}": permission denied')
    return path


def find_executable(name: str, path_env: str | None) -> str:
    """Resolve ``args[0]`` as Go's exec.LookPath does, with the same error text."""
    if not name:
        raise RuntimeFailure('exec: "": executable file not found in $PATH')
    if "/" in name:
        return _check_executable(name, name)
    for directory in (path_env if path_env is not None else DEFAULT_PATH).split(":"):
        candidate = os.path.join(directory or ".", name)
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) and st.st_mode & 0o111:
            return candidate
    raise RuntimeFailure(f'exec: "{name}": executable file not found in $PATH')
