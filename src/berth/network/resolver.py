"""The embedded DNS responder of a user-defined network: an asyncio UDP server in berthd.

It listens on the network's gateway address (port 53), so it is reachable from every
container on the network and from nowhere else that matters; a query from outside the
network's subnet is refused, which keeps names isolated between networks. Names it knows
(container names, aliases, short IDs — given by ``lookup``) get A records; anything else is
forwarded to the host's own resolvers, as Docker's embedded DNS does. Chosen over Docker's
127.0.0.11-in-every-netns design because one socket per network needs no per-container
setns and the forwarding happens from the host's namespace, where the host's resolvers
(loopback ones included) actually answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import socket
import struct
from collections.abc import Callable, Sequence
from typing import Final, cast

__all__ = ["Resolver", "build_query", "parse_answer_ips"]

_log = logging.getLogger("berth.dns")
_A: Final = 1
_AAAA: Final = 28
_NXDOMAIN: Final = 3
_REFUSED: Final = 5
_SERVFAIL: Final = 2

# (name, address of the container asking): a link alias is answered only for its own container
Lookup = Callable[[str, str], list[ipaddress.IPv4Address] | None]


def _read_name(data: bytes, pos: int) -> tuple[str, int]:
    labels: list[str] = []
    while True:
        length = data[pos]
        if length == 0:
            return ".".join(labels), pos + 1
        if length & 0xC0:
            raise ValueError("compressed name in question")
        labels.append(data[pos + 1:pos + 1 + length].decode("ascii", "replace"))
        pos += 1 + length


def _encode_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\0"


def build_query(name: str, qid: int = 0x1234, qtype: int = _A) -> bytes:
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + _encode_name(name) + struct.pack("!HH", qtype, 1)


def parse_answer_ips(data: bytes) -> list[str]:
    """A records of a response (for tests and tools)."""
    _qid, _flags, qd, an, _ns, _ar = struct.unpack("!HHHHHH", data[:12])
    pos = 12
    for _ in range(qd):
        _, pos = _read_name(data, pos)
        pos += 4
    out: list[str] = []
    for _ in range(an):
        pos += 2  # a compression pointer: every answer we produce points at the question
        rtype, _cls, _ttl, rdlen = struct.unpack("!HHIH", data[pos:pos + 10])
        pos += 10
        if rtype == _A and rdlen == 4:
            out.append(str(ipaddress.IPv4Address(data[pos:pos + 4])))
        pos += rdlen
    return out


def _response(query: bytes, question_end: int, rcode: int,
              answers: Sequence[ipaddress.IPv4Address]) -> bytes:
    qid, flags = struct.unpack("!HH", query[:4])
    rflags = 0x8000 | (flags & 0x0100) | 0x0080 | 0x0400 | rcode  # QR, RD copied, RA, AA
    head = struct.pack("!HHHHHH", qid, rflags, 1, len(answers), 0, 0)
    body = query[12:question_end]
    for ip in answers:
        body += struct.pack("!HHHIH", 0xC00C, _A, 1, 600, 4) + ip.packed
    return head + body


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: Resolver) -> None:
        self._owner = owner
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self._owner.handle(data, (str(addr[0]), int(addr[1])))


class _Once(asyncio.DatagramProtocol):
    """Receives the one reply of a forwarded query."""

    def __init__(self, fut: asyncio.Future[bytes]) -> None:
        self._fut = fut

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if not self._fut.done():
            self._fut.set_result(data)


class Resolver:
    """One network's responder; ``start`` binds, ``close`` releases (always safe to call)."""

    def __init__(self, address: str, subnet: ipaddress.IPv4Network, lookup: Lookup,
                 upstreams: Sequence[str], port: int = 53) -> None:
        self._address = address
        self._port = port
        self._subnet = subnet
        self._lookup = lookup
        self._upstreams = list(upstreams)
        self._proto: _Protocol | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        _transport, proto = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=(self._address, self._port),
            family=socket.AF_INET, reuse_port=False)
        self._proto = proto

    def close(self) -> None:
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()
        self._proto = None
        for t in list(self._tasks):
            t.cancel()

    def _send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.sendto(data, addr)

    def handle(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            if len(data) < 12 or struct.unpack("!H", data[4:6])[0] != 1:
                return
            name, pos = _read_name(data, 12)
            qtype, _qclass = struct.unpack("!HH", data[pos:pos + 4])
            end = pos + 4
        except (ValueError, IndexError, struct.error):
            return
        if ipaddress.IPv4Address(addr[0]) not in self._subnet:
            self._send(_response(data, end, _REFUSED, []), addr)
            return
        ips = self._lookup(name.rstrip(".").lower(), str(addr[0]))
        if ips is not None:
            self._send(_response(data, end, 0 if ips or qtype != _A else _NXDOMAIN,
                                 ips if qtype == _A else []), addr)
            return
        task = asyncio.get_running_loop().create_task(self._forward(data, end, addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _forward(self, data: bytes, end: int, addr: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        for server in self._upstreams:
            fut: asyncio.Future[bytes] = loop.create_future()
            transport = None
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    functools.partial(_Once, fut), remote_addr=(server, 53), family=socket.AF_INET)
                transport.sendto(data)
                reply = await asyncio.wait_for(fut, 2.0)
                self._send(reply, addr)
                return
            except (OSError, TimeoutError):
                continue
            finally:
                if transport is not None:
                    transport.close()
        with contextlib.suppress(Exception):
            self._send(_response(data, end, _SERVFAIL, []), addr)
