"""``berthd --userns-remap``: which host ids a container's ids map to.

``default`` uses the user and group ``berthremap``, created (with a 65536-id range in
/etc/subuid and /etc/subgid) when missing, as dockerd creates ``dockremap``; ``user[:group]``
(names or numbers) uses that user's/group's existing ranges. The result is a frozen
:class:`Remap` (the maps as the OCI spec wants them and the host ids of the container's root).
Runs once at berthd start. Must not create namespaces or mounts (the runtime does).
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from berth.errors import InvalidArgument

__all__ = ["DEFAULT_USER", "IdRange", "Remap", "grant_traversal", "resolve_remap"]

DEFAULT_USER: Final = "berthremap"
_RANGE: Final = 65536
_FIRST: Final = 100000


@dataclass(frozen=True)
class IdRange:
    """``size`` ids from ``container_id`` map to host ids from ``host_id``."""

    container_id: int
    host_id: int
    size: int

    def to_oci(self) -> dict[str, int]:
        return {"containerID": self.container_id, "hostID": self.host_id, "size": self.size}


@dataclass(frozen=True)
class Remap:
    user: str
    group: str
    uids: tuple[IdRange, ...]
    gids: tuple[IdRange, ...]

    @property
    def root_uid(self) -> int:
        return _host_id(self.uids, 0)

    @property
    def root_gid(self) -> int:
        return _host_id(self.gids, 0)

    def spec_mappings(self) -> dict[str, Any]:
        return {"uidMappings": [r.to_oci() for r in self.uids],
                "gidMappings": [r.to_oci() for r in self.gids]}


def _host_id(ranges: tuple[IdRange, ...], cid: int) -> int:
    for r in ranges:
        if r.container_id <= cid < r.container_id + r.size:
            return r.host_id + cid - r.container_id
    raise InvalidArgument(f"container id {cid} is not mapped")


def _read_ranges(path: Path, names: tuple[str, ...]) -> list[tuple[int, int]]:
    out = []
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in names and parts[1].isdigit() and parts[2].isdigit():
            out.append((int(parts[1]), int(parts[2])))
    return out


def _to_ranges(found: list[tuple[int, int]]) -> tuple[IdRange, ...]:
    # Container ids are laid out over the ranges in file order, as dockerd does.
    out, next_cid = [], 0
    for start, size in found:
        out.append(IdRange(next_cid, start, size))
        next_cid += size
    return tuple(out)


def _free_start(*files: Path) -> int:
    end = _FIRST
    for path in files:
        try:
            for line in path.read_text().splitlines():
                parts = line.strip().split(":")
                if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                    end = max(end, int(parts[1]) + int(parts[2]))
        except FileNotFoundError:
            continue
    return end


def _ensure_default(etc: Path) -> None:
    try:
        pwd.getpwnam(DEFAULT_USER)
    except KeyError:
        # A system user without a home or login shell, like dockerd's dockremap.
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/bin/false",
                        "--user-group", DEFAULT_USER], check=True, capture_output=True)
    subuid, subgid = etc / "subuid", etc / "subgid"
    if _read_ranges(subuid, (DEFAULT_USER,)) and _read_ranges(subgid, (DEFAULT_USER,)):
        return
    start = _free_start(subuid, subgid)
    for path in (subuid, subgid):
        if not _read_ranges(path, (DEFAULT_USER,)):
            with open(path, "a") as f:
                f.write(f"{DEFAULT_USER}:{start}:{_RANGE}\n")


def resolve_remap(value: str, etc: Path = Path("/etc")) -> Remap | None:
    """The remap for ``--userns-remap VALUE`` ('' = none); InvalidArgument when unusable."""
    if not value:
        return None
    if value == "default":
        _ensure_default(etc)
        user_part, group_part = DEFAULT_USER, DEFAULT_USER
    else:
        user_part, _, group_part = value.partition(":")
    try:
        pw = pwd.getpwuid(int(user_part)) if user_part.isdigit() else pwd.getpwnam(user_part)
    except KeyError as exc:
        raise InvalidArgument(f"--userns-remap: no such user {user_part!r}") from exc
    if not group_part:
        group_part = pw.pw_name
    try:
        gr = grp.getgrgid(int(group_part)) if group_part.isdigit() else grp.getgrnam(group_part)
    except KeyError as exc:
        raise InvalidArgument(f"--userns-remap: no such group {group_part!r}") from exc
    uids = _read_ranges(etc / "subuid", (pw.pw_name, str(pw.pw_uid)))
    gids = _read_ranges(etc / "subgid", (gr.gr_name, str(gr.gr_gid)))
    if not uids:
        raise InvalidArgument(f"no subuid ranges found for user {pw.pw_name!r}")
    if not gids:
        raise InvalidArgument(f"no subgid ranges found for group {gr.gr_name!r}")
    return Remap(pw.pw_name, gr.gr_name, _to_ranges(uids), _to_ranges(gids))


def grant_traversal(data_root: Path, remap: Remap) -> None:
    """Let the mapped root walk into the data root (0710 root:<mapped root gid>), as dockerd does:
    the container's init resolves its bundle files (hosts, resolv.conf) and volumes through it."""
    data_root.mkdir(parents=True, exist_ok=True)
    os.chown(data_root, 0, remap.root_gid)
    os.chmod(data_root, 0o710)
