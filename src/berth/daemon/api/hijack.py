"""Hijacked HTTP connections: attach and exec start turn the socket into a raw byte stream.

After the 101 answer the client and the daemon exchange raw bytes both ways. aiohttp's own
protocol object closes the whole transport when the client half-closes (``docker run -i``
shuts down its write side after sending stdin and still expects output), so the transport
is handed to a small protocol of ours that keeps the connection half-open.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from berth.daemon.api.inflight import endless

__all__ = ["HijackedStream", "hijack"]


class _RawProtocol(asyncio.Protocol):
    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._can_write = asyncio.Event()
        self._can_write.set()
        self.closed = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self._reader.feed_data(data)

    def eof_received(self) -> bool:
        self._reader.feed_eof()
        return True  # keep the write side open: output still flows after stdin ends

    def connection_lost(self, exc: Exception | None) -> None:
        self._reader.feed_eof()
        self._can_write.set()
        self.closed.set()

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    async def drain(self) -> None:
        await self._can_write.wait()


class HijackedStream:
    """Raw bytes from the client (``reader``) and to the client (``write``/``drain``)."""

    def __init__(self, transport: asyncio.Transport, reader: asyncio.StreamReader,
                 protocol: _RawProtocol) -> None:
        self._transport = transport
        self.reader = reader
        self._protocol = protocol

    @property
    def closed(self) -> bool:
        return self._transport.is_closing()

    async def wait_closed(self) -> None:
        await self._protocol.closed.wait()

    async def write(self, data: bytes) -> None:
        if self._transport.is_closing():
            raise ConnectionResetError("client went away")
        self._transport.write(data)
        await self._protocol.drain()

    def close(self) -> None:
        if not self._transport.is_closing():
            self._transport.close()


async def hijack(request: web.Request, content_type: str) -> HijackedStream:
    """Answer ``101 UPGRADED`` (or 200 for clients that did not ask to upgrade) and take the socket."""
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("client went away")
    endless(request)  # the stream lasts as long as the process it is attached to
    upgrade = "upgrade" in request.headers.get("Connection", "").lower()
    head = (
        ("HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n" if upgrade
         else "HTTP/1.1 200 OK\r\n")
        + f"Content-Type: {content_type}\r\nApi-Version: 1.45\r\nOstype: linux\r\n\r\n"
    )
    reader = asyncio.StreamReader(limit=1 << 20)
    protocol = _RawProtocol(reader)
    handler: Any = request.protocol
    # Bytes the client sent right after its request (early stdin) sit in aiohttp's buffer.
    tail = getattr(handler, "_message_tail", b"")
    if tail:
        reader.feed_data(tail)
        handler._message_tail = b""
    transport.set_protocol(protocol)
    if hasattr(transport, "is_reading") and not transport.is_reading():
        transport.resume_reading()
    transport.write(head.encode())
    return HijackedStream(transport, reader, protocol)
