"""Image routes: list, inspect, create (import from a tar body), tag, delete."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from berth import errors
from berth.daemon.api.app import Router
from berth.daemon.api.params import qbool, qfilters
from berth.daemon.api.routes import registry as registry_routes
from berth.daemon.api.spool import hashed_body
from berth.daemon.context import DaemonContext
from berth.images import fetchurl

__all__ = ["register"]


def register(router: Router, ctx: DaemonContext) -> None:
    svc = ctx.images

    async def list_(request: web.Request) -> web.StreamResponse:
        items = await asyncio.to_thread(svc.list_images, qbool(request, "all"), qfilters(request))
        return web.json_response(items)

    async def inspect(request: web.Request) -> web.StreamResponse:
        return web.json_response(await asyncio.to_thread(svc.inspect, request.match_info["name"]))

    async def tag(request: web.Request) -> web.StreamResponse:
        repo = request.query.get("repo", "")
        if not repo:
            raise errors.InvalidArgument("repository name must have at least one component")
        await asyncio.to_thread(svc.tag, request.match_info["name"], repo,
                                request.query.get("tag", ""))
        return web.Response(status=201)

    async def delete(request: web.Request) -> web.StreamResponse:
        in_use = ctx.containers.image_ids_in_use()
        running = {c.image_id: c.id for c in ctx.containers.all() if c.state.running}
        result = await asyncio.to_thread(svc.remove, request.match_info["name"],
                                         qbool(request, "force"), qbool(request, "noprune"),
                                         in_use, running)
        return web.json_response(result)

    async def create(request: web.Request) -> web.StreamResponse:
        if request.query.get("fromImage"):
            return await registry_routes.pull(request, ctx)
        src = request.query.get("fromSrc")
        if src is None:
            raise errors.InvalidArgument("one of fromImage or fromSrc is required")
        if src != "-" and not fetchurl.is_url(src):
            raise errors.InvalidArgument(f"unsupported import source {src!r}: use - or an http(s) URL")
        repo = request.query.get("repo", "")
        tag_ = request.query.get("tag", "")
        repo_tag = f"{repo}:{tag_}" if repo and tag_ else (repo or None)
        changes = request.query.getall("changes", [])
        message = request.query.get("message", "") or ("" if src == "-" else f"Imported from {src}")
        async with hashed_body(request, ctx.data_root / "tmp", "import-") as (path, digest):
            if src != "-":
                await asyncio.to_thread(fetchurl.fetch_to, src, path)
            image_id = await asyncio.to_thread(svc.import_image, path, repo_tag, changes, message,
                                               digest if src == "-" else None)
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        await resp.write((json.dumps({"status": image_id}) + "\r\n").encode())
        await resp.write_eof()
        return resp

    router.add("GET", "/images/json", list_)
    router.add("POST", "/images/create", create)
    router.add("GET", "/images/{name:.+}/json", inspect)
    router.add("POST", "/images/{name:.+}/tag", tag)
    router.add("DELETE", "/images/{name:.+}", delete)
