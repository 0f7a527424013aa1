"""Routes acting on a container's running processes: pause, unpause, rename, top, update."""

from __future__ import annotations

from aiohttp import web

from berth.daemon.api.app import Router
from berth.daemon.api.params import json_body, qstr
from berth.services.containers import ContainerService

__all__ = ["register"]


def register(router: Router, svc: ContainerService) -> None:
    async def pause(request: web.Request) -> web.StreamResponse:
        await svc.pause(request.match_info["id"])
        return web.Response(status=204)

    async def unpause(request: web.Request) -> web.StreamResponse:
        await svc.unpause(request.match_info["id"])
        return web.Response(status=204)

    async def rename(request: web.Request) -> web.StreamResponse:
        svc.rename(request.match_info["id"], qstr(request, "name"))
        return web.Response(status=204)

    async def top(request: web.Request) -> web.StreamResponse:
        return web.json_response(await svc.top(request.match_info["id"],
                                               qstr(request, "ps_args")))

    async def update(request: web.Request) -> web.StreamResponse:
        warnings = await svc.update(request.match_info["id"], await json_body(request))
        return web.json_response({"Warnings": warnings})

    router.add("POST", "/containers/{id}/pause", pause)
    router.add("POST", "/containers/{id}/unpause", unpause)
    router.add("POST", "/containers/{id}/rename", rename)
    router.add("GET", "/containers/{id}/top", top)
    router.add("POST", "/containers/{id}/update", update)
