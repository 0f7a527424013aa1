"""API requests in flight, and how they end when berthd stops.

Owns the set of running request handlers (a middleware records each one while it runs) and
which of them are endless: answers with no end of their own (``events``, ``logs -f``, a
stats stream, ``wait``, the hijacked attach and exec streams), marked by their handlers
with :func:`endless`. :meth:`InFlight.drain` is the shutdown of the API: endless answers end
at once, the others get a grace period to finish, then what is left is cancelled. A chunked
answer that was already under way is closed with its last chunk, so a client such as
``docker events`` sees its stream end rather than a cut connection.

Must not decide when berthd stops or close anything else (``berth.daemon.main`` does).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web

__all__ = ["INFLIGHT", "DrainReport", "InFlight", "endless"]

# How long a cancelled handler may take to unwind (finally blocks, shim connections closed)
# before the drain stops waiting for it.
_UNWIND = 1.0
# A chunked answer's last chunk goes to a client that may not read: bounded as well.
_LAST_CHUNK = 0.5

_RESPONSE: Final = "berth.inflight.response"

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class DrainReport:
    """What a drain found and did, for berthd's log."""

    streams: int  # endless answers, ended at once
    waited: int  # other requests, given the grace period
    cancelled: int  # of those, still running after it
    stuck: int  # handlers not done even after their cancel


class InFlight:
    """The request handlers running now; one per API application."""

    def __init__(self) -> None:
        self._tasks: dict[asyncio.Task[object], bool] = {}  # task -> endless
        self._closing = False

    @property
    def closing(self) -> bool:
        return self._closing

    def mark_endless(self, task: asyncio.Task[object]) -> None:
        if task in self._tasks:
            self._tasks[task] = True
            if self._closing:
                # Became endless during the grace period: it would only wait for the cancel.
                task.cancel()

    @web.middleware
    async def middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        self._tasks[task] = False
        try:
            return await handler(request)
        except asyncio.CancelledError:
            resp = request.get(_RESPONSE)
            if self._closing and isinstance(resp, web.StreamResponse) and resp.prepared:
                # End a chunked stream properly; the connection closes after it anyway.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(resp.write_eof(), _LAST_CHUNK)
            raise
        finally:
            del self._tasks[task]

    @staticmethod
    async def on_prepare(request: web.Request, resp: web.StreamResponse) -> None:
        request[_RESPONSE] = resp

    async def drain(self, grace: float) -> DrainReport:
        """End every request: endless ones now, the rest after ``grace`` seconds at most.
        Returns once all handlers are done, or ``_UNWIND`` seconds after their cancel."""
        self._closing = True
        streams = [t for t, forever in self._tasks.items() if forever]
        for task in streams:
            task.cancel()
        ordinary = [t for t, forever in self._tasks.items() if not forever]
        if ordinary:
            await asyncio.wait(ordinary, timeout=grace)
        cancelled = [t for t in ordinary if not t.done() and not self._tasks.get(t)]
        for task in cancelled:
            task.cancel()
        stuck = 0
        left = [t for t in self._tasks if not t.done()]
        if left:
            _, still = await asyncio.wait(left, timeout=_UNWIND)
            stuck = len(still)
        return DrainReport(streams=len(streams), waited=len(ordinary), cancelled=len(cancelled),
                           stuck=stuck)


INFLIGHT: Final = web.AppKey("berth.inflight", InFlight)


def endless(request: web.Request) -> None:
    """Mark this request's answer as one with no end of its own: a stopping berthd ends it at
    once instead of waiting for it."""
    task = asyncio.current_task()
    inflight = request.app.get(INFLIGHT)
    if task is not None and inflight is not None:
        inflight.mark_endless(task)
