"""Network routes: list, inspect, create, remove, prune, connect, disconnect."""

from __future__ import annotations

from aiohttp import web

from berth import errors
from berth.daemon.api.app import Router
from berth.daemon.api.params import json_body, qfilters
from berth.daemon.context import DaemonContext

__all__ = ["register"]


def register(router: Router, ctx: DaemonContext) -> None:
    svc = ctx.networks

    async def list_(request: web.Request) -> web.StreamResponse:
        items = svc.list_networks(qfilters(request))
        cs = {c.id: c for c in ctx.containers.all()}
        return web.json_response([svc.inspect(n, cs) for n in items])

    async def inspect(request: web.Request) -> web.StreamResponse:
        n = svc.get(request.match_info["id"])
        return web.json_response(svc.inspect(n, {c.id: c for c in ctx.containers.all()}))

    async def create(request: web.Request) -> web.StreamResponse:
        body = await json_body(request)
        n, warning = await svc.create(body)
        return web.json_response({"Id": n.id, "Warning": warning}, status=201)

    async def delete(request: web.Request) -> web.StreamResponse:
        await svc.remove(request.match_info["id"])
        return web.Response(status=204)

    async def prune(request: web.Request) -> web.StreamResponse:
        return web.json_response({"NetworksDeleted": await svc.prune(qfilters(request))})

    async def connect(request: web.Request) -> web.StreamResponse:
        body = await json_body(request)
        ref = str(body.get("Container") or "")
        if not ref:
            raise errors.InvalidArgument("no container specified")
        n = svc.get(request.match_info["id"])
        c = ctx.containers.get(ref)
        running = c.state.status in ("running", "paused")
        await svc.connect(n.id, c, body.get("EndpointConfig") or {}, running=running)
        return web.Response(status=200)

    async def disconnect(request: web.Request) -> web.StreamResponse:
        body = await json_body(request)
        n = svc.get(request.match_info["id"])
        c = ctx.containers.get(str(body.get("Container") or ""))
        await svc.disconnect(n.id, c, bool(body.get("Force")))
        return web.Response(status=200)

    router.add("GET", "/networks", list_)
    router.add("POST", "/networks/create", create)
    router.add("POST", "/networks/prune", prune)
    router.add("GET", "/networks/{id}", inspect)
    router.add("DELETE", "/networks/{id}", delete)
    router.add("POST", "/networks/{id}/connect", connect)
    router.add("POST", "/networks/{id}/disconnect", disconnect)
