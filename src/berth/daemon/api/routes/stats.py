"""``GET /containers/{id}/stats``: one object (``stream=false``) or one per interval.

precpu comes from a real earlier reading: the collector's last sample when there is one
(so ``docker stats --no-stream`` answers at once), else a reading one interval earlier.
``one-shot`` skips precpu entirely, as in moby.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from berth.daemon.api.app import Router
from berth.daemon.api.inflight import endless
from berth.daemon.api.params import qbool
from berth.daemon.context import DaemonContext
from berth.errors import NotFound
from berth.monitor.dockerjson import stats_json, zero_stats_json
from berth.monitor.samples import ContainerSample
from berth.services.container_model import Container

__all__ = ["register"]

# An earlier sample younger than this is too close for a meaningful CPU delta.
_MIN_PRECPU_AGE_NS = 200_000_000


def register(router: Router, ctx: DaemonContext) -> None:
    containers = ctx.containers
    stats = ctx.stats

    def current(c: Container) -> Container | None:
        try:
            return containers.get(c.id)
        except NotFound:
            return None

    async def one(c: Container, one_shot: bool) -> dict[str, Any]:
        cur = stats.sample(c)
        if cur is None:
            return zero_stats_json(c.name, c.id)
        prev: ContainerSample | None = None
        if not one_shot:
            last, before = stats.latest(c.id)
            for cand in (last, before):
                if cand is not None and cur.time_ns - cand.time_ns >= _MIN_PRECPU_AGE_NS:
                    prev = cand
                    break
            if prev is None:
                await asyncio.sleep(stats.interval)
                prev, cur = cur, stats.sample(c)
                if cur is None:
                    return zero_stats_json(c.name, c.id)
        return stats_json(c.name, cur, prev)

    async def get_stats(request: web.Request) -> web.StreamResponse:
        c = containers.get(request.match_info["id"])
        stream = qbool(request, "stream", True)
        if not stream:
            data = json.dumps(await one(c, qbool(request, "one-shot"))) + "\n"
            return web.Response(body=data.encode(), headers={"Content-Type": "application/json"})
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        endless(request)
        await resp.prepare(request)
        prev: ContainerSample | None = None
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        try:
            while True:
                live = current(c)
                if live is None:
                    break  # removed: moby ends the stream
                cur = stats.sample(live)
                body = (stats_json(live.name, cur, prev) if cur is not None
                        else zero_stats_json(live.name, live.id))
                prev = cur
                await resp.write((json.dumps(body) + "\n").encode())
                next_at += stats.interval
                await asyncio.sleep(max(0.0, next_at - loop.time()))
        except (ConnectionError, OSError):
            return resp
        await resp.write_eof()
        return resp

    router.add("GET", "/containers/{id}/stats", get_stats)
