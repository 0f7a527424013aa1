"""Garbage collection as a pure mark over a references callback.

Owns the reachability computation only. It must not delete anything or touch storage:
callers list every resource, call :func:`mark` with the roots and a ``refs`` function, and
delete what :func:`sweep` returns (containerd's ``pkg/gc`` split).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["Kind", "Node", "mark", "sweep"]


class Kind(enum.Enum):
    IMAGE = "image"
    CONTENT = "content"
    SNAPSHOT = "snapshot"


@dataclass(frozen=True)
class Node:
    """One collectable resource: an image ID, a blob digest or a snapshot key."""

    kind: Kind
    key: str


def mark(roots: Iterable[Node], refs: Callable[[Node], Iterable[Node]]) -> set[Node]:
    """Every node reachable from ``roots`` (roots included), following ``refs``."""
    seen: set[Node] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(n for n in refs(node) if n not in seen)
    return seen


def sweep(all_nodes: Iterable[Node], reachable: set[Node]) -> list[Node]:
    """The nodes of ``all_nodes`` not in ``reachable``, in a stable order."""
    return sorted((n for n in all_nodes if n not in reachable), key=lambda n: (n.kind.value, n.key))
