"""Clients that leave: noticing it, and ending their request quietly.

A client closing its connection before the answer is complete is normal: ``docker run``
interrupted with Ctrl-C leaves its ``/wait``, ``docker logs -f`` and ``docker events`` end
that way, tests close their sockets. Long answers (wait, logs follow, events) run their
waiting under ``until_disconnected`` so it stops when the client leaves instead of at the
next write; the API middleware (``berth.daemon.api.app``) treats a connection error on a
request whose client is gone as the end of that request, not as a server failure.

aiohttp does not cancel handlers when the peer leaves (cancelling a create or a commit half
way would be worse), so the connection is polled while a long answer waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from aiohttp import web

__all__ = ["ClientGone", "client_gone", "until_disconnected"]

T = TypeVar("T")

_POLL = 0.5


class ClientGone(ConnectionResetError):
    """Raised by ``until_disconnected`` when the client closed its connection first."""


def client_gone(request: web.BaseRequest) -> bool:
    """True once the client's connection is closed or closing."""
    transport = request.transport
    return transport is None or transport.is_closing()


async def until_disconnected(request: web.BaseRequest, work: Awaitable[T],
                             poll: float = _POLL) -> T:
    """``work``'s result, or ClientGone (``work`` cancelled) if the client leaves first."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait([task], timeout=poll)
            if done:
                return task.result()
            if client_gone(request):
                raise ClientGone("client went away")
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait([task])  # let it clean up (subscriptions, shim connections)
