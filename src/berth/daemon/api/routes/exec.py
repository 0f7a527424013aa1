"""Exec routes: POST /containers/{id}/exec, /exec/{id}/start (hijacked), /exec/{id}/resize,
GET /exec/{id}/json."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from berth import errors
from berth.daemon.api.app import Router
from berth.daemon.api.detachkeys import DEFAULT_DETACH_KEYS, DetachFilter, parse_detach_keys
from berth.daemon.api.hijack import HijackedStream, hijack
from berth.daemon.api.params import json_body, qint
from berth.services.containers import ContainerService
from berth.services.exec import ExecService
from berth.shim.protocol import FrameStream, encode_frame

__all__ = ["pump_stdin", "register"]


async def pump_stdin(src: asyncio.StreamReader, dst: asyncio.StreamWriter, keys: bytes,
                     detached: asyncio.Event) -> None:
    """Client bytes to the process's stdin until EOF or the detach keys (then set ``detached``)."""
    filt = DetachFilter(keys)
    try:
        while True:
            chunk = await src.read(65536)
            if not chunk:
                break
            data, hit = filt.feed(chunk)
            if data:
                dst.write(data)
                await dst.drain()
            if hit:
                detached.set()
                return
        if dst.can_write_eof():
            dst.write_eof()
    except (ConnectionError, OSError):
        pass


async def _pump_out(src: asyncio.StreamReader, dst: HijackedStream) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while True:
            chunk = await src.read(65536)
            if not chunk:
                return
            await dst.write(chunk)


def register(router: Router, containers: ContainerService) -> ExecService:
    svc = ExecService(containers)

    async def create(request: web.Request) -> web.StreamResponse:
        inst = svc.create(request.match_info["id"], await json_body(request))
        return web.json_response({"Id": inst.id}, status=201)

    async def start(request: web.Request) -> web.StreamResponse:
        exec_id = request.match_info["id"]
        body = await json_body(request, required=False)
        inst = svc.get(exec_id)
        detach = bool(body.get("Detach"))
        keys = parse_detach_keys(inst.config.detach_keys or DEFAULT_DETACH_KEYS)
        if detach:
            await svc.start(exec_id, detach=True)
            return web.Response(status=200)
        svc.check_startable(exec_id)  # a Conflict is still an HTTP answer
        ctype = ("application/vnd.docker.raw-stream" if inst.config.tty
                 else "application/vnd.docker.multiplexed-stream")
        client = await hijack(request, ctype)
        try:
            stream = await svc.start(exec_id, detach=False)
        except errors.BerthError as err:
            # As moby: the error goes to the stream; the CLI then reads ExitCode (126/127).
            text = (f"OCI runtime exec failed: exec failed: unable to start container process: "
                    f"{err}: unknown\r\n").encode()
            with contextlib.suppress(ConnectionError, OSError):
                await client.write(text if inst.config.tty else encode_frame(FrameStream.STDOUT, text))
            client.close()
            return web.Response()
        assert stream is not None
        size = body.get("ConsoleSize")
        if inst.config.tty and isinstance(size, list) and len(size) == 2 and all(size):
            with contextlib.suppress(errors.BerthError):
                await svc.resize(exec_id, int(size[0]), int(size[1]))
        detached = asyncio.Event()
        to_proc = asyncio.ensure_future(
            pump_stdin(client.reader, stream.writer, keys, detached) if inst.config.attach_stdin
            else asyncio.sleep(0))
        out = asyncio.ensure_future(_pump_out(stream.reader, client))
        detach_wait = asyncio.ensure_future(detached.wait())
        try:
            await asyncio.wait([out, detach_wait], return_when=asyncio.FIRST_COMPLETED)
            if out.done():
                # Docker's CLI reads ExitCode from /exec/{id}/json right after the stream ends.
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(svc.wait(exec_id), 5)
        finally:
            for t in (to_proc, out, detach_wait):
                t.cancel()
            stream.writer.close()
            client.close()
        return web.Response()

    async def resize(request: web.Request) -> web.StreamResponse:
        await svc.resize(request.match_info["id"], qint(request, "h", 0) or 0,
                         qint(request, "w", 0) or 0)
        return web.Response(status=200)

    async def inspect(request: web.Request) -> web.StreamResponse:
        return web.json_response(svc.get(request.match_info["id"]).inspect())

    router.add("POST", "/containers/{id}/exec", create)
    router.add("POST", "/exec/{id}/start", start)
    router.add("POST", "/exec/{id}/resize", resize)
    router.add("GET", "/exec/{id}/json", inspect)
    return svc
