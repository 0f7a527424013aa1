"""Which containers ``GET /containers/json`` (``docker ps``) lists, and how much disk a
container's files take.

Owns the ps selection: newest first; without ``all`` only running, paused and restarting
containers unless a ``status``/``exited`` filter asks for others; the filters ``id``
(prefix), ``name`` (substring), ``label`` (``key`` or ``key=value``), ``status``, ``exited``,
``ancestor`` (an image reference or ID), ``before`` and ``since`` (containers created
before/after the named one); an unknown filter is InvalidArgument, an unknown
``before``/``since`` container NotFound (as moby, whatever else is listed). Sizes (SizeRw,
``system df``'s volumes) count each inode once and follow no symlink. It reads no service
state of its own: the caller passes the containers and how to resolve references, so it
never renders rows (that needs the network and volume services: ``ContainerService.summaries``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from berth import errors
from berth.services.container_model import Container
from berth.timefmt import parse_to_ns

__all__ = ["FILTERS", "select", "tree_size"]

FILTERS = frozenset({"id", "name", "label", "status", "exited", "ancestor", "before", "since"})

_LIVE = ("running", "paused", "restarting")


def select(items: Iterable[Container], all: bool, limit: int | None,
           filters: Mapping[str, list[str]], *, image_id_of: Callable[[str], str],
           created_of: Callable[[str], str]) -> list[Container]:
    """The containers ps shows, newest first. ``image_id_of(ref)`` resolves an ``ancestor``
    (NotFound = matches nothing); ``created_of(ref)`` gives a ``before``/``since``
    container's creation time (NotFound propagates)."""
    for key in filters:
        if key not in FILTERS:
            raise errors.InvalidArgument(f"Invalid filter '{key}'")
    before = [parse_to_ns(created_of(ref)) for ref in filters.get("before", [])]
    since = [parse_to_ns(created_of(ref)) for ref in filters.get("since", [])]
    ancestors: set[str] | None = None
    if filters.get("ancestor"):
        ancestors = set()
        for ref in filters["ancestor"]:
            try:
                ancestors.add(image_id_of(ref))
            except errors.NotFound:
                continue
    out = sorted(items, key=lambda c: c.created, reverse=True)
    if not all and not filters.get("status") and not filters.get("exited"):
        out = [c for c in out if c.state.status in _LIVE]
    out = [c for c in out if _matches(c, filters, ancestors, before, since)]
    if limit is not None and limit > 0:
        out = out[:limit]
    return out


def _matches(c: Container, f: Mapping[str, list[str]], ancestors: set[str] | None,
             before: list[int], since: list[int]) -> bool:
    if f.get("id") and not any(c.id.startswith(v) for v in f["id"]):
        return False
    if f.get("name") and not any(v.removeprefix("/") in c.name for v in f["name"]):
        return False
    if f.get("status") and c.state.status not in f["status"]:
        return False
    if f.get("exited") and (c.state.status != "exited" or str(c.state.exit_code) not in f["exited"]):
        return False
    labels = c.config.get("Labels") or {}
    for want in f.get("label", []):
        key, eq, value = want.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    if ancestors is not None and c.image_id not in ancestors:
        return False
    created = parse_to_ns(c.created)
    return all(created < t for t in before) and all(created > t for t in since)


def tree_size(root: Path, skip: frozenset[str] = frozenset()) -> int:
    """Bytes under ``root`` as moby's ``directory.Size`` counts them: every entry but
    directories by its lstat size (a symlink is its own length, never followed), each inode
    once (hard links); ``skip`` names entries (``etc/mtab``) left out."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if skip and os.path.relpath(os.path.join(dirpath, name), root) in skip:
                continue
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total
