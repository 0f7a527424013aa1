"""Build routes: the classic ``POST /build`` (context tar in, JSON progress out) and
``POST /build/prune``.

Bad input (parameters, context, Dockerfile syntax, unknown target) is answered with a
status code before anything streams; once the 200 stream has begun, failures are in-band
``errorDetail`` lines carrying the exit code, as moby's classic builder sends them. A client
leaving cancels the build.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from berth import errors
from berth.build.backend import BuildFailed, BuildOptions
from berth.daemon.api.app import Router
from berth.daemon.api.disconnect import until_disconnected
from berth.daemon.api.params import qbool, qstr
from berth.daemon.api.spool import spooled_body
from berth.registry.auth import decode_registry_config
from berth.services.build import BuildService

__all__ = ["register"]


def _json_map(request: web.Request, name: str) -> dict[str, Any]:
    raw = request.query.get(name, "")
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise errors.InvalidArgument(f"invalid {name}: {e}") from None
    if not isinstance(value, dict):
        raise errors.InvalidArgument(f"invalid {name}: expected a JSON object")
    return value


def _options(request: web.Request) -> BuildOptions:
    if qstr(request, "version", "1") == "2":
        raise errors.InvalidArgument("BuildKit is not supported by berth: use DOCKER_BUILDKIT=0")
    if qstr(request, "remote"):
        raise errors.InvalidArgument("remote build contexts are not supported: send the context tar")
    args = _json_map(request, "buildargs")
    labels = _json_map(request, "labels")
    return BuildOptions(
        dockerfile=qstr(request, "dockerfile", "Dockerfile") or "Dockerfile",
        tags=tuple(t for t in request.query.getall("t", []) if t),
        build_args={str(k): (None if v is None else str(v)) for k, v in args.items()},
        labels={str(k): str(v) for k, v in labels.items()},
        target=qstr(request, "target"),
        no_cache=qbool(request, "nocache"),
        rm=qbool(request, "rm", True),
        force_rm=qbool(request, "forcerm"),
        quiet=qbool(request, "q"),
        network_mode=qstr(request, "networkmode"),
        pull=qbool(request, "pull"),
        registry_auths=decode_registry_config(request.headers.get("X-Registry-Config")),
    )


def register(router: Router, svc: BuildService, tmp_dir: Path) -> None:
    async def build(request: web.Request) -> web.StreamResponse:
        options = _options(request)
        async with spooled_body(request, tmp_dir, "context-") as path:
            prepared = await asyncio.to_thread(svc.prepare, path, options)
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)

        async def emit(message: dict[str, Any]) -> None:
            await resp.write((json.dumps(message) + "\r\n").encode())

        try:
            # A client that leaves (docker build interrupted) cancels the build, as in moby:
            # the step in progress ends (a RUN's container is removed) and nothing is tagged.
            await until_disconnected(request, svc.run(prepared, emit))
        except errors.BerthError as e:
            code = e.code if isinstance(e, BuildFailed) else 1
            with contextlib.suppress(ConnectionError):
                await emit({"errorDetail": {"code": code, "message": str(e)}, "error": str(e)})
        await resp.write_eof()
        return resp

    async def prune(request: web.Request) -> web.StreamResponse:
        return web.json_response(await asyncio.to_thread(svc.prune))

    router.add("POST", "/build", build)
    router.add("POST", "/build/prune", prune)
