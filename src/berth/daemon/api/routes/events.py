"""``GET /events``: replay from ``since``, then stream live until ``until`` (or forever).

One JSON object per line, flushed; headers go out at once (the CLI waits for them).
"""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from berth.daemon.api.app import Router
from berth.daemon.api.disconnect import until_disconnected
from berth.daemon.api.inflight import endless
from berth.daemon.api.params import qfilters, qstr
from berth.daemon.context import DaemonContext
from berth.errors import InvalidArgument
from berth.services.events import Event, EventFilter
from berth.timefmt import parse_rfc3339nano

__all__ = ["parse_timestamp", "register"]


def parse_timestamp(text: str, name: str) -> int | None:
    """Docker's ``sec[.nanos]`` (what the CLI sends) or RFC 3339 -> unix nanoseconds."""
    if not text:
        return None
    sec, dot, frac = text.partition(".")
    if sec.lstrip("-").isdigit() and (not dot or frac.isdigit()):
        return int(sec) * 1_000_000_000 + (int(frac[:9].ljust(9, "0")) if frac else 0)
    try:
        return parse_rfc3339nano(text)
    except (ValueError, InvalidArgument):
        raise InvalidArgument(f"invalid value for {name}: {text!r}") from None


def register(router: Router, ctx: DaemonContext) -> None:
    bus = ctx.events

    async def events(request: web.Request) -> web.StreamResponse:
        since = parse_timestamp(qstr(request, "since"), "since")
        until = parse_timestamp(qstr(request, "until"), "until")
        flt = EventFilter.parse(qfilters(request))
        if since is not None and until is not None and until < since:
            raise InvalidArgument("`since` time must be before `until` time")
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        if until is None:
            endless(request)
        await resp.prepare(request)

        async def send(ev: Event) -> None:
            if flt.matches(ev):
                await resp.write((json.dumps(ev.to_json()) + "\n").encode())

        async def stream() -> None:
            async with bus.subscribe() as sub:
                # Subscribed before replaying, so nothing published meanwhile is lost;
                # events already replayed are skipped by time.
                replayed = 0
                if since is not None:
                    for ev in bus.history(since, until):
                        await send(ev)
                        replayed = max(replayed, ev.time_ns)
                if until is not None and until <= time.time_ns():
                    return
                while True:
                    timeout = None if until is None else max(0.0, (until - time.time_ns()) / 1e9)
                    try:
                        live = await asyncio.wait_for(sub.get(), timeout)
                    except TimeoutError:
                        return
                    if live is None or (until is not None and live.time_ns > until):
                        return
                    if live.time_ns > replayed:
                        await send(live)

        # A quiet bus may not publish for hours: the subscription ends when the client
        # leaves (ClientGone, answered quietly by the middleware), not at the next event.
        await until_disconnected(request, stream())
        await resp.write_eof()
        return resp

    router.add("GET", "/events", events)
