"""Routes for images in depth and container files: save/load, history, prune, df, commit,
changes, export and the archive (cp) API.

Bodies going in (load, cp) are spooled to a temp file under ``<data-root>/tmp`` first;
archives going out are written to a temp file by a worker thread and then streamed, so a
failure is still a clean JSON error and no half archive is ever sent as a success.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from aiohttp import web

from berth import errors
from berth.daemon.api.app import Router
from berth.daemon.api.params import qbool, qfilters
from berth.daemon.api.spool import spooled_body
from berth.images.copyarchive import PathStat
from berth.services.containerfs import ContainerFilesService
from berth.services.imagetransfer import ImageTransferService, loaded_lines
from berth.services.imageusage import ImageUsageService

__all__ = ["register"]

_CHUNK = 1 << 20
_STAT_HEADER = "X-Docker-Container-Path-Stat"


async def _send_file(request: web.Request, tmp: Path, produce: Callable[[BinaryIO], object],
                     content_type: str, headers: dict[str, str] | None = None) -> web.StreamResponse:
    tmp.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="download-", dir=tmp)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            await asyncio.to_thread(produce, out)
        resp = web.StreamResponse(status=200, headers={"Content-Type": content_type,
                                                       **(headers or {})})
        resp.content_length = path.stat().st_size
        await resp.prepare(request)
        with path.open("rb") as f:
            while chunk := await asyncio.to_thread(f.read, _CHUNK):
                await resp.write(chunk)
        await resp.write_eof()
        return resp
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def register(router: Router, transfer: ImageTransferService, usage: ImageUsageService,
             files: ContainerFilesService, tmp: Path) -> None:

    async def save(request: web.Request) -> web.StreamResponse:
        names = request.query.getall("names", [])
        if "name" in request.match_info:
            names = [request.match_info["name"]]
        # Resolve first: an unknown name is a 404 before any byte of the archive.
        await asyncio.to_thread(transfer.check_names, names)
        return await _send_file(request, tmp, lambda out: transfer.save(names, out),
                                "application/x-tar")

    async def load(request: web.Request) -> web.StreamResponse:
        async with spooled_body(request, tmp, "upload-") as path:
            loaded = await asyncio.to_thread(transfer.load, path)
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for line in loaded_lines(loaded):
            await resp.write((json.dumps({"stream": line}) + "\r\n").encode())
        await resp.write_eof()
        return resp

    async def history(request: web.Request) -> web.StreamResponse:
        return web.json_response(await asyncio.to_thread(usage.history,
                                                          request.match_info["name"]))

    async def prune(request: web.Request) -> web.StreamResponse:
        return web.json_response(await asyncio.to_thread(usage.prune, qfilters(request)))

    async def df(request: web.Request) -> web.StreamResponse:
        return web.json_response(await asyncio.to_thread(usage.disk_usage))

    async def commit(request: web.Request) -> web.StreamResponse:
        container = request.query.get("container", "")
        if not container:
            raise errors.InvalidArgument("container is required")
        changes = request.query.getall("changes", [])
        image_id = await asyncio.to_thread(
            files.commit, container, request.query.get("repo") or None,
            request.query.get("tag") or None, request.query.get("author", ""),
            request.query.get("comment", ""), changes)
        return web.json_response({"Id": image_id}, status=201)

    async def changes(request: web.Request) -> web.StreamResponse:
        items = await asyncio.to_thread(files.changes, request.match_info["id"])
        return web.json_response([{"Path": c.path, "Kind": int(c.kind)} for c in items])

    async def export(request: web.Request) -> web.StreamResponse:
        ref = request.match_info["id"]
        return await _send_file(request, tmp, lambda out: files.export(ref, out),
                                "application/x-tar")

    def _path(request: web.Request) -> str:
        path = request.query.get("path", "")
        if not path:
            raise errors.InvalidArgument("path is required")
        return path

    async def archive_head(request: web.Request) -> web.StreamResponse:
        st = await asyncio.to_thread(files.stat_path, request.match_info["id"], _path(request))
        return web.Response(status=200, headers={_STAT_HEADER: st.header(),
                                                 "Content-Type": "application/json"})

    async def archive_get(request: web.Request) -> web.StreamResponse:
        ref, path = request.match_info["id"], _path(request)
        st: PathStat = await asyncio.to_thread(files.stat_path, ref, path)
        return await _send_file(request, tmp, lambda out: files.get_archive(ref, path, out),
                                "application/x-tar", {_STAT_HEADER: st.header()})

    async def archive_put(request: web.Request) -> web.StreamResponse:
        ref, path = request.match_info["id"], _path(request)
        await asyncio.to_thread(files.stat_path, ref, path)  # 404 before reading the body
        async with spooled_body(request, tmp, "upload-") as body:
            await asyncio.to_thread(files.put_archive, ref, path, body,
                                    qbool(request, "noOverwriteDirNonDir"),
                                    qbool(request, "copyUIDGID"))
        return web.Response(status=200)

    router.add("GET", "/images/get", save)
    router.add("GET", "/images/{name:.+}/get", save)
    router.add("POST", "/images/load", load)
    router.add("GET", "/images/{name:.+}/history", history)
    router.add("POST", "/images/prune", prune)
    router.add("GET", "/system/df", df)
    router.add("POST", "/commit", commit)
    router.add("GET", "/containers/{id}/changes", changes)
    router.add("GET", "/containers/{id}/export", export)
    router.add("HEAD", "/containers/{id}/archive", archive_head)
    router.add("GET", "/containers/{id}/archive", archive_get)
    router.add("PUT", "/containers/{id}/archive", archive_put)
