"""Registry routes: pull (``POST /images/create?fromImage``), ``POST /images/{name}/push``
and ``POST /auth``.

Owns decoding ``X-Registry-Auth`` and turning the distribution service's progress messages
into Docker's JSON-lines stream. Errors raised before the first message are plain API
errors (404 for an unknown image, 401 for refused credentials); later ones go in-band as
``errorDetail`` lines, as dockerd does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from berth import errors
from berth.daemon.api.app import Router
from berth.daemon.context import DaemonContext
from berth.images.reference import Reference, parse_normalized
from berth.registry.auth import Credentials, decode_registry_auth
from berth.registry.progress import Sink

__all__ = ["pull", "register"]

_DONE = object()


async def _stream(request: web.Request,
                  work: Callable[[Sink], Awaitable[Any]]) -> web.StreamResponse:
    queue: asyncio.Queue[object] = asyncio.Queue()
    task = asyncio.ensure_future(work(queue.put_nowait))
    task.add_done_callback(lambda _: queue.put_nowait(_DONE))
    first = await queue.get()
    if first is _DONE:
        task.result()  # raises the error as a plain API error, or it finished silently
        first = None
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    resp.enable_chunked_encoding()
    try:
        await resp.prepare(request)
        item = first
        while item is not _DONE:
            if item is not None:
                await resp.write((json.dumps(item) + "\r\n").encode())
            item = await queue.get()
        try:
            task.result()
        except errors.BerthError as err:
            line = {"errorDetail": {"message": str(err)}, "error": str(err)}
            await resp.write((json.dumps(line) + "\r\n").encode())
        except Exception as err:  # in-band like dockerd; the stream has begun
            line = {"errorDetail": {"message": f"internal error: {err}"},
                    "error": f"internal error: {err}"}
            await resp.write((json.dumps(line) + "\r\n").encode())
        await resp.write_eof()
    finally:
        if not task.done():  # client went away: stop pulling; writers abort themselves
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
    return resp


def _credentials(request: web.Request) -> Credentials:
    return decode_registry_auth(request.headers.get("X-Registry-Auth"))


async def pull(request: web.Request, ctx: DaemonContext) -> web.StreamResponse:
    """``POST /images/create?fromImage=...&tag=...[&platform=...]``."""
    text = request.query["fromImage"]
    tag = request.query.get("tag", "")
    base = parse_normalized(text)
    if tag:
        if tag.startswith("sha256:"):
            ref = Reference(base.domain, base.path, None, tag)
        else:
            ref = Reference(base.domain, base.path, tag, None)
        if base.tag or base.digest:
            ref = base
    else:
        ref = base.with_default_tag()
    creds = _credentials(request)
    platform = request.query.get("platform") or None
    return await _stream(request, lambda sink: ctx.distribution.pull(ref, platform, creds, sink))


def register(router: Router, ctx: DaemonContext) -> None:
    async def push(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        tag = request.query.get("tag", "")
        creds = _credentials(request)
        return await _stream(request,
                             lambda sink: ctx.distribution.push(name, tag, creds, sink))

    async def auth(request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError as e:
            raise errors.InvalidArgument(f"invalid JSON: {e}") from e
        if not isinstance(body, dict):
            raise errors.InvalidArgument("invalid JSON: expected an object")
        creds = Credentials(str(body.get("username") or ""), str(body.get("password") or ""),
                            str(body.get("identitytoken") or ""))
        result = await ctx.distribution.login(str(body.get("serveraddress") or ""), creds)
        return web.json_response({"Status": result.status,
                                  "IdentityToken": result.identity_token})

    router.add("POST", "/images/{name:.+}/push", push)
    router.add("POST", "/auth", auth)
