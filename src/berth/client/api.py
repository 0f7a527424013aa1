"""The typed Engine API client: one method per route the CLI uses, API version negotiated once.

Owns route paths, query encoding and version negotiation (``HEAD /_ping``, header
``Api-Version``, min(1.45, server), 1.24 when the server does not say). Returns JSON-shaped
API bodies as dicts and small frozen values otherwise. Must not print or touch the terminal.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

from berth.client.hijack import HijackedStream, hijack
from berth.client.http import Query, Request, Response, send
from berth.client.progress import ProgressMessage, decode_progress
from berth.client.transport import Transport
from berth.errors import Internal, NotModified
from berth.record import Record

__all__ = [
    "MAX_API_VERSION",
    "MIN_API_VERSION",
    "APIClient",
    "CreateResult",
    "WaitHandle",
    "WaitResult",
    "encode_filters",
    "negotiate_version",
]

MAX_API_VERSION = "1.45"
MIN_API_VERSION = "1.24"

JSON = dict[str, Any]


def _vtuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (0,)


def negotiate_version(server: str | None) -> str:
    """The version to use given the server's ``Api-Version`` header (None = header absent)."""
    if not server:
        return MIN_API_VERSION
    return server if _vtuple(server) < _vtuple(MAX_API_VERSION) else MAX_API_VERSION


def encode_filters(filters: Mapping[str, list[str]]) -> str | None:
    """Docker CLI's map form: ``{"name":{"web":true}}``; None when empty."""
    if not filters:
        return None
    return json.dumps({k: {v: True for v in vs} for k, vs in filters.items()})


class CreateResult(Record):
    id: str
    warnings: tuple[str, ...]


class WaitResult(Record):
    status_code: int
    error: str | None


class WaitHandle:
    """A wait request whose headers have arrived; ``result()`` blocks for the body."""

    def __init__(self, response: Response) -> None:
        self._response = response

    def result(self) -> WaitResult:
        data = self._response.json() or {}
        err = data.get("Error")
        message = err.get("Message") if isinstance(err, dict) else None
        return WaitResult(status_code=int(data.get("StatusCode", 0)), error=message or None)

    def cancel(self) -> None:
        self._response.shutdown()
        self._response.close()


class APIClient:
    """Engine API calls over ``transport``. Safe to share between threads once negotiated."""

    def __init__(self, transport: Transport, version: str | None = None,
                 timeout: float | None = None) -> None:
        self.transport = transport
        self._version = version
        self._timeout = timeout

    # -- plumbing -----------------------------------------------------------------
    @property
    def version(self) -> str:
        if self._version is None:
            self._version = negotiate_version(self.ping_version())
        return self._version

    def ping_version(self) -> str | None:
        """``HEAD /_ping`` (``GET`` when HEAD is refused, like the docker CLI); the Api-Version."""
        try:
            resp = send(self.transport, "", Request("HEAD", "/_ping", timeout=self._timeout))
        except Internal:
            resp = send(self.transport, "", Request("GET", "/_ping", timeout=self._timeout))
        resp.read()
        return resp.headers.get("Api-Version")

    def request(self, method: str, path: str, query: Query | None = None, body: Any = None,
                headers: Mapping[str, str] | None = None, timeout: float | None = None) -> Response:
        req = Request(method, path, query, body, headers, timeout or self._timeout)
        return send(self.transport, f"/v{self.version}", req)

    def _json(self, method: str, path: str, query: Query | None = None, body: Any = None) -> Any:
        return self.request(method, path, query, body).json()

    # -- system -------------------------------------------------------------------
    def system_version(self) -> JSON:
        result: JSON = self._json("GET", "/version")
        return result

    def info(self) -> JSON:
        result: JSON = self._json("GET", "/info")
        return result

    # -- containers ---------------------------------------------------------------
    def create_container(self, body: JSON, name: str | None = None) -> CreateResult:
        data = self._json("POST", "/containers/create", {"name": name}, body)
        return CreateResult(id=str(data["Id"]), warnings=tuple(data.get("Warnings") or ()))

    def start_container(self, ref: str) -> None:
        """Start; already running (304) counts as success like the docker CLI."""
        with contextlib.suppress(NotModified):
            self.request("POST", f"/containers/{ref}/start").read()

    def stop_container(self, ref: str, timeout: int | None = None,
                       signal: str | None = None) -> None:
        # The stop itself may take `timeout` seconds plus the kill; never time out the HTTP call.
        with contextlib.suppress(NotModified):
            self.request("POST", f"/containers/{ref}/stop", {"t": timeout, "signal": signal}).read()

    def restart_container(self, ref: str, timeout: int | None = None,
                          signal: str | None = None) -> None:
        self.request("POST", f"/containers/{ref}/restart", {"t": timeout, "signal": signal}).read()

    def kill_container(self, ref: str, signal: str | None = None) -> None:
        self.request("POST", f"/containers/{ref}/kill", {"signal": signal}).read()

    def remove_container(self, ref: str, force: bool = False, volumes: bool = False,
                         link: bool = False) -> None:
        """``link``: ``ref`` is a legacy link's ``container/alias``; only the link goes."""
        self.request("DELETE", f"/containers/{ref.lstrip('/') if link else ref}",
                     {"force": force or None, "v": volumes or None, "link": link or None}).read()

    def inspect_container(self, ref: str, size: bool = False) -> JSON:
        result: JSON = self._json("GET", f"/containers/{ref}/json", {"size": size or None})
        return result

    def list_containers(self, all: bool = False, limit: int | None = None, size: bool = False,
                        filters: Mapping[str, list[str]] | None = None) -> list[JSON]:
        query: dict[str, Any] = {"all": all or None, "limit": limit, "size": size or None,
                                 "filters": encode_filters(filters or {})}
        result: list[JSON] = self._json("GET", "/containers/json", query)
        return result

    def logs(self, ref: str, *, follow: bool = False, timestamps: bool = False,
             tail: str = "all", since: str | None = None, until: str | None = None,
             stdout: bool = True, stderr: bool = True) -> Response:
        query: dict[str, Any] = {"stdout": stdout or None, "stderr": stderr or None,
                                 "tail": tail, "follow": follow or None,
                                 "timestamps": timestamps or None, "since": since,
                                 "until": until}
        return self.request("GET", f"/containers/{ref}/logs", query)

    def attach(self, ref: str, *, stdin: bool, stdout: bool, stderr: bool,
               detach_keys: str | None = None) -> HijackedStream:
        query: dict[str, Any] = {"stream": True, "stdin": stdin or None,
                                 "stdout": stdout or None, "stderr": stderr or None,
                                 "detachKeys": detach_keys}
        return hijack(self.transport, f"/v{self.version}", f"/containers/{ref}/attach", query)

    def wait(self, ref: str, condition: str | None = None) -> WaitHandle:
        """Send the wait; return once its response headers arrived (before the container exits)."""
        return WaitHandle(self.request("POST", f"/containers/{ref}/wait", {"condition": condition}))

    def resize(self, ref: str, height: int, width: int) -> None:
        self.request("POST", f"/containers/{ref}/resize", {"h": height, "w": width}).read()

    # -- images -------------------------------------------------------------------
    def list_images(self, all: bool = False, digests: bool = False,
                    filters: Mapping[str, list[str]] | None = None) -> list[JSON]:
        query: dict[str, Any] = {"all": all or None, "digests": digests or None,
                                 "filters": encode_filters(filters or {})}
        result: list[JSON] = self._json("GET", "/images/json", query)
        return result

    def inspect_image(self, ref: str) -> JSON:
        result: JSON = self._json("GET", f"/images/{ref}/json")
        return result

    def tag_image(self, ref: str, repo: str, tag: str | None) -> None:
        self.request("POST", f"/images/{ref}/tag", {"repo": repo, "tag": tag}).read()

    def remove_image(self, ref: str, force: bool = False, noprune: bool = False) -> list[JSON]:
        result: list[JSON] = self._json("DELETE", f"/images/{ref}",
                                        {"force": force or None, "noprune": noprune or None})
        return result or []

    def import_image(self, source: BinaryIO, repo: str | None, message: str | None,
                     changes: list[str]) -> Iterator[ProgressMessage]:
        query: dict[str, Any] = {"fromSrc": "-", "repo": repo, "message": message,
                                 "changes": changes or None}
        resp = self.request("POST", "/images/create", query, body=source,
                            headers={"Content-Type": "text/plain"})
        return decode_progress(resp.iter_lines())

    def pull_image(self, from_image: str, tag: str | None) -> Iterator[ProgressMessage]:
        resp = self.request("POST", "/images/create", {"fromImage": from_image, "tag": tag},
                            headers={"X-Registry-Auth": "e30="})
        return decode_progress(resp.iter_lines())
