"""Volume routes: list, inspect, create, remove, prune."""

from __future__ import annotations

import asyncio

from aiohttp import web

from berth.daemon.api.app import Router
from berth.daemon.api.params import json_body, qbool, qfilters
from berth.daemon.context import DaemonContext

__all__ = ["register"]


def register(router: Router, ctx: DaemonContext) -> None:
    svc = ctx.volumes

    async def list_(request: web.Request) -> web.StreamResponse:
        items = svc.list_volumes(qfilters(request))
        return web.json_response({"Volumes": [svc.inspect(v) for v in items], "Warnings": None})

    async def inspect(request: web.Request) -> web.StreamResponse:
        return web.json_response(svc.inspect(svc.get(request.match_info["name"])))

    async def create(request: web.Request) -> web.StreamResponse:
        body = await json_body(request, required=False)
        v = await asyncio.to_thread(svc.create, body)
        return web.json_response(svc.inspect(v), status=201)

    async def delete(request: web.Request) -> web.StreamResponse:
        await asyncio.to_thread(svc.remove, request.match_info["name"], qbool(request, "force"))
        return web.Response(status=204)

    async def prune(request: web.Request) -> web.StreamResponse:
        filters = qfilters(request)
        # API >= 1.42 prunes only anonymous volumes unless all=true; older clients prune all unused.
        all_volumes = tuple(request["api_version"]) < (1, 42)
        gone, space = await asyncio.to_thread(svc.prune, filters, all_volumes)
        return web.json_response({"VolumesDeleted": gone, "SpaceReclaimed": space})

    router.add("GET", "/volumes", list_)
    router.add("POST", "/volumes/create", create)
    router.add("POST", "/volumes/prune", prune)
    router.add("GET", "/volumes/{name}", inspect)
    router.add("DELETE", "/volumes/{name}", delete)

