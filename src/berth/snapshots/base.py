"""The Snapshotter contract: vocabulary, lifecycle and the values it returns.

Owns the protocol and its value types only; implementations live in sibling modules
(``overlay.py``). A snapshotter never mounts anything: it returns ``berth.mount.Mount``
values and the runtime applies them inside the container's mount namespace.

Vocabulary (as containerd's ``core/snapshots/snapshotter.go``):

- **key** — the name of an *active* or *view* snapshot, chosen by the caller
  (``container/<id>``, ``extract-<random> <chain id>``). Only active snapshots can be written.
- **name** — the name a snapshot gets when committed (for image layers: the chain ID).
  Committed snapshots are immutable and can be parents.
- **parent** — the name of a committed snapshot the new one starts from (``None``: empty).

Lifecycle::

    prepare(key, parent) -> mounts   an active snapshot: writable upper over the parent chain
    view(key, parent)    -> mounts   a read-only snapshot of the parent chain
    mounts(key)          -> mounts   the same mounts again (e.g. after a daemon restart)
    commit(name, key)                active -> committed under ``name``; ``key`` is gone
    remove(key_or_name)              delete a snapshot that has no children

Errors: an unknown key is NotFound, a taken key/name AlreadyExists, committing a
non-active snapshot or removing one with children Conflict.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from berth.mount import Mount

__all__ = ["Info", "Kind", "Snapshotter", "Usage"]


class Kind(enum.Enum):
    ACTIVE = "active"
    VIEW = "view"
    COMMITTED = "committed"


@dataclass(frozen=True)
class Info:
    """What is known about one snapshot; ``created`` is ns since the epoch."""

    key: str
    kind: Kind
    parent: str | None
    created: int
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    """Disk use of the snapshot's own directory (not its parents)."""

    size: int
    inodes: int


class Snapshotter(Protocol):
    """See the module docstring for vocabulary and lifecycle."""

    def prepare(self, key: str, parent: str | None = None,
                labels: dict[str, str] | None = None) -> list[Mount]: ...

    def view(self, key: str, parent: str | None = None,
             labels: dict[str, str] | None = None) -> list[Mount]: ...

    def mounts(self, key: str) -> list[Mount]: ...

    def commit(self, name: str, key: str, labels: dict[str, str] | None = None) -> None: ...

    def remove(self, key: str) -> None: ...

    def stat(self, key: str) -> Info: ...

    def usage(self, key: str) -> Usage: ...

    def walk(self) -> Iterator[Info]: ...

    def upper_dir(self, key: str) -> Path:
        """The directory holding the snapshot's own files (an active snapshot's upper)."""
        ...
