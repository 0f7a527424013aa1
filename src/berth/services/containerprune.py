"""``POST /containers/prune``: remove every container that is not running.

Owns choosing the containers (not running, paused counts as running as in moby; filters
``until`` and ``label``/``label!``) and the answer ``{"ContainersDeleted": [...],
"SpaceReclaimed": N}`` where the space is the writable layers' size. Removal goes through
``ContainerService.remove``, so a container that starts meanwhile is left alone (409 there).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from berth import errors
from berth.services.containers import ContainerService
from berth.services.prunefilters import parse_prune_filters
from berth.timefmt import parse_to_ns

__all__ = ["prune_containers"]


async def prune_containers(containers: ContainerService,
                           filters: Mapping[str, list[str]]) -> dict[str, Any]:
    wanted = parse_prune_filters(filters)
    deleted: list[str] = []
    reclaimed = 0
    for c in containers.all():
        if c.state.status in ("running", "paused", "restarting", "removing"):
            continue
        if not wanted.matches(parse_to_ns(c.created), c.config.get("Labels") or {}):
            continue
        size = (await asyncio.to_thread(containers.sizes, c))["rw"]
        try:
            await containers.remove(c.id)
        except (errors.Conflict, errors.NotFound):
            continue  # started or removed meanwhile
        deleted.append(c.id)
        reclaimed += size
    return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}
