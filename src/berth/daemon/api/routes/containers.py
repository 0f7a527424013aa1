"""Container routes: create, start, stop, kill, restart, delete, wait, attach, logs, list, inspect, resize."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
from typing import Any, TypeVar

from aiohttp import web

from berth import errors
from berth.daemon.api.app import Router
from berth.daemon.api.detachkeys import DEFAULT_DETACH_KEYS, parse_detach_keys
from berth.daemon.api.disconnect import until_disconnected
from berth.daemon.api.hijack import HijackedStream, hijack
from berth.daemon.api.inflight import endless
from berth.daemon.api.params import json_body, qbool, qfilters, qint, qstr
from berth.daemon.api.routes import control as control_routes
from berth.daemon.api.routes import exec as exec_routes
from berth.daemon.context import DaemonContext
from berth.services.containerprune import prune_containers
from berth.shim import jsonlog
from berth.timefmt import format_ns

__all__ = ["register"]

_T = TypeVar("_T")

_log = logging.getLogger("berth.api.containers")


def _parse_time(text: str, name: str) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise errors.InvalidArgument(f"invalid value for {name}: {text!r}") from None


def _frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(data)) + data


async def _pump_to_client(src: asyncio.StreamReader, dst: HijackedStream) -> None:
    while True:
        chunk = await src.read(65536)
        if not chunk:
            return
        await dst.write(chunk)


def register(router: Router, ctx: DaemonContext) -> None:
    svc = ctx.containers

    async def create(request: web.Request) -> web.StreamResponse:
        body = await json_body(request)
        name = request.query.get("name") or None
        c = await svc.create(body, name)
        return web.json_response({"Id": c.id, "Warnings": []}, status=201)

    async def start(request: web.Request) -> web.StreamResponse:
        await svc.start(request.match_info["id"])
        return web.Response(status=204)

    async def stop(request: web.Request) -> web.StreamResponse:
        await svc.stop(request.match_info["id"], qint(request, "t"),
                       request.query.get("signal") or None)
        return web.Response(status=204)

    async def restart(request: web.Request) -> web.StreamResponse:
        await svc.restart(request.match_info["id"], qint(request, "t"),
                          request.query.get("signal") or None)
        return web.Response(status=204)

    async def kill(request: web.Request) -> web.StreamResponse:
        await svc.kill(request.match_info["id"], request.query.get("signal") or None)
        return web.Response(status=204)

    async def delete(request: web.Request) -> web.StreamResponse:
        if qbool(request, "link"):
            svc.remove_link(request.match_info["id"])
            return web.Response(status=204)
        await svc.remove(request.match_info["id"], force=qbool(request, "force"),
                         volumes=qbool(request, "v"))
        return web.Response(status=204)

    async def delete_link(request: web.Request) -> web.StreamResponse:
        # a link's name, /<container>/<alias>: only ``rm --link`` names one
        name = f"{request.match_info['id']}/{request.match_info['alias']}"
        if not qbool(request, "link"):
            raise errors.NotFound(f"No such container: {name}")
        svc.remove_link(name)
        return web.Response(status=204)

    async def inspect(request: web.Request) -> web.StreamResponse:
        c = svc.get(request.match_info["id"])
        body = svc.decorate_inspect(c, c.inspect())
        body["ExecIDs"] = execs.ids_of(c.id)
        if qbool(request, "size"):
            sizes = await asyncio.to_thread(svc.sizes, c)
            body["SizeRw"], body["SizeRootFs"] = sizes["rw"], sizes["rootfs"]
        return web.json_response(body)

    async def list_(request: web.Request) -> web.StreamResponse:
        items = svc.list_containers(qbool(request, "all"), qint(request, "limit"), qfilters(request))
        if qbool(request, "size"):
            return web.json_response(await asyncio.to_thread(svc.summaries, items, True))
        return web.json_response(svc.summaries(items))

    async def wait(request: web.Request) -> web.StreamResponse:
        ref = request.match_info["id"]
        condition = qstr(request, "condition", "not-running")
        svc.get(ref)  # 404 before the 200 is sent
        if condition not in ("not-running", "next-exit", "removed", ""):
            raise errors.InvalidArgument(f"invalid condition: {condition!r}")
        task = asyncio.ensure_future(svc.wait(ref, condition))
        endless(request)
        # The Go client waits for the response headers before `docker run` sends start.
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        body: dict[str, object]
        try:
            code = await until_disconnected(request, task)
            body = {"StatusCode": code, "Error": None}
        except errors.BerthError as err:
            body = {"StatusCode": -1, "Error": {"Message": str(err)}}
        finally:
            task.cancel()
        await resp.write((json.dumps(body) + "\n").encode())
        await resp.write_eof()
        return resp

    async def attach(request: web.Request) -> web.StreamResponse:
        ref = request.match_info["id"]
        c = svc.get(ref)
        want_stdin = qbool(request, "stdin")
        want_out = qbool(request, "stdout")
        want_err = qbool(request, "stderr")
        if not qbool(request, "stream") and not qbool(request, "logs"):
            raise errors.InvalidArgument("at least one of stream or logs must be set")
        tty = bool(c.config.get("Tty"))
        keys = parse_detach_keys(qstr(request, "detachKeys") or DEFAULT_DETACH_KEYS)
        attach_task = asyncio.ensure_future(svc.attach(ref, want_stdin, want_out, want_err))
        ctype = ("application/vnd.docker.raw-stream" if tty or request["api_version"] < (1, 42)
                 else "application/vnd.docker.multiplexed-stream")
        client = await hijack(request, ctype)
        try:
            streams = await _until_closed(attach_task, client)
        except errors.BerthError as err:
            with contextlib.suppress(ConnectionError):
                await client.write(_frame(3, str(err).encode()) if not tty else b"")
            client.close()
            return web.Response()
        if streams is None:
            return web.Response()
        detached = asyncio.Event()
        to_container = asyncio.ensure_future(
            exec_routes.pump_stdin(client.reader, streams.writer, keys, detached)
            if want_stdin else asyncio.sleep(0))
        to_client = asyncio.ensure_future(_pump_to_client(streams.reader, client))
        detach_wait = asyncio.ensure_future(detached.wait())
        try:
            # Detach keys end the session; the container keeps running.
            await asyncio.wait([to_client, detach_wait], return_when=asyncio.FIRST_COMPLETED)
            if to_client.done() and not to_client.cancelled():
                with contextlib.suppress(ConnectionError, OSError):
                    to_client.result()
        finally:
            to_client.cancel()
            detach_wait.cancel()
            to_container.cancel()
            streams.writer.close()
            client.close()
        return web.Response()

    async def prune(request: web.Request) -> web.StreamResponse:
        return web.json_response(await prune_containers(svc, qfilters(request)))

    async def resize(request: web.Request) -> web.StreamResponse:
        await svc.resize(request.match_info["id"], qint(request, "h", 0) or 0,
                         qint(request, "w", 0) or 0)
        return web.Response(status=200)

    async def logs(request: web.Request) -> web.StreamResponse:
        ref = request.match_info["id"]
        c = svc.get(ref)
        want = {1: qbool(request, "stdout"), 2: qbool(request, "stderr")}
        if not any(want.values()):
            raise errors.InvalidArgument("You must choose at least one stream")
        tail_raw = qstr(request, "tail", "all")
        tail: int | None = None
        if tail_raw not in ("", "all"):
            try:
                tail = max(0, int(tail_raw))
            except ValueError:
                tail = None
        since = _parse_time(qstr(request, "since"), "since")
        until = _parse_time(qstr(request, "until"), "until")
        timestamps = qbool(request, "timestamps")
        follow = qbool(request, "follow")
        tty = bool(c.config.get("Tty"))
        entries = svc.logs(ref, follow=follow, since=since, until=until, tail=tail)
        resp = web.StreamResponse(status=200, headers={
            "Content-Type": "application/vnd.docker.raw-stream" if tty
            else "application/vnd.docker.multiplexed-stream"})
        resp.enable_chunked_encoding()
        # The headers at once, as dockerd sends them: a follow of a silent container may wait
        # hours for its first line, and a client given no headers meanwhile took berthd for
        # gone ("Cannot connect to the Docker daemon") when it stopped or the client timed out.
        await resp.prepare(request)

        async def send() -> None:
            async for entry in entries:
                stream = 2 if entry.stream is jsonlog.Stream.STDERR else 1
                if not want[stream]:
                    continue
                data = entry.data
                if timestamps:
                    data = format_ns(entry.time_ns, trim=False).encode() + b" " + data
                await resp.write(data if tty else _frame(stream, data))

        # With follow the entries may not end for hours: stop when the client leaves.
        if follow:
            endless(request)
        await (until_disconnected(request, send()) if follow else send())
        await resp.write_eof()
        return resp

    router.add("POST", "/containers/create", create)
    router.add("POST", "/containers/prune", prune)
    router.add("GET", "/containers/json", list_)
    router.add("GET", "/containers/{id}/json", inspect)
    router.add("POST", "/containers/{id}/start", start)
    router.add("POST", "/containers/{id}/stop", stop)
    router.add("POST", "/containers/{id}/restart", restart)
    router.add("POST", "/containers/{id}/kill", kill)
    router.add("POST", "/containers/{id}/wait", wait)
    router.add("POST", "/containers/{id}/attach", attach)
    router.add("POST", "/containers/{id}/resize", resize)
    router.add("GET", "/containers/{id}/logs", logs)
    router.add("DELETE", "/containers/{id}", delete)
    router.add("DELETE", "/containers/{id}/{alias}", delete_link)
    # Exec and process-control routes live in their own modules, on the same service.
    control_routes.register(router, svc)
    execs = exec_routes.register(router, svc)


async def _until_closed(task: asyncio.Future[_T], client: HijackedStream) -> _T | None:
    """Wait for ``task`` unless the client goes away first (then cancel it and return None)."""
    closed = asyncio.ensure_future(client.wait_closed())
    try:
        waiters: list[asyncio.Future[Any]] = [task, closed]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        closed.cancel()
    if task.done():
        return task.result()
    task.cancel()
    return None
