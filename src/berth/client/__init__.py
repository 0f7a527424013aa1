"""berth's Engine API client (stdlib only, so CLI start-up stays fast).

Layering: ``hosts`` (where) -> ``transport`` (socket) -> ``http`` / ``hijack`` (HTTP) ->
``api`` (routes); ``statuses`` maps HTTP errors back to ``berth.errors``; ``frames`` and
``progress`` decode stream bodies; ``autostart`` starts berthd on demand.
"""

from __future__ import annotations

from collections.abc import Mapping

from berth.client.api import APIClient, CreateResult, WaitHandle, WaitResult
from berth.client.autostart import ensure_daemon
from berth.client.frames import Frame, FrameDecoder, StreamType
from berth.client.hijack import HijackedStream
from berth.client.hosts import Host, resolve_host
from berth.client.progress import ProgressMessage, StreamError
from berth.client.transport import Transport, UnixTransport

__all__ = [
    "APIClient",
    "CreateResult",
    "Frame",
    "FrameDecoder",
    "HijackedStream",
    "Host",
    "ProgressMessage",
    "StreamError",
    "StreamType",
    "Transport",
    "UnixTransport",
    "WaitHandle",
    "WaitResult",
    "connect",
    "resolve_host",
]


def connect(host_flag: str | None, environ: Mapping[str, str]) -> APIClient:
    """A client for the resolved host, starting berthd first when autostart applies."""
    host = resolve_host(host_flag, environ)
    ensure_daemon(host, environ)
    return APIClient(UnixTransport(host.socket_path))
