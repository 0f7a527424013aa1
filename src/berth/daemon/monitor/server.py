"""The monitoring web server on ``--metrics-addr``: dashboard (static assets shipped in the
package, no CDN), a JSON API with the collector's history, and Prometheus /metrics.

JSON API (all GET, all read-only):
  /api/v1/summary                 host facts + latest point, every container with state,
                                  limits and its latest point
  /api/v1/containers/{ref}        one container (ID, unique ID prefix or name)
  /api/v1/history/{key}?since=t   points newer than unix time t; key = "host" or a container
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from berth.daemon.monitor.metrics import ContainerMetrics, render
from berth.errors import BerthError, InvalidArgument
from berth.services.container_model import Container
from berth.services.containers import ContainerService
from berth.services.stats import HOST_KEY, StatsService

__all__ = ["MonitorServer", "parse_addr"]

_STATIC = Path(__file__).resolve().parent / "static"
_TYPES = {".html": "text/html", ".js": "application/javascript", ".css": "text/css",
          ".svg": "image/svg+xml"}


def parse_addr(text: str) -> tuple[str, int] | None:
    """``host:port`` ("" = off); IPv6 as ``[::1]:9323``."""
    text = text.strip()
    if not text:
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidArgument(f"invalid --metrics-addr {text!r}: want host:port")
    return host.strip("[]") or "0.0.0.0", int(port)


def _limits(c: Container) -> dict[str, Any]:
    hc = c.host_config
    nano = int(hc.get("NanoCpus") or 0)
    quota, period = int(hc.get("CpuQuota") or 0), int(hc.get("CpuPeriod") or 0) or 100_000
    cpus = nano / 1e9 if nano else (quota / period if quota > 0 else 0)
    return {"memory": int(hc.get("Memory") or 0), "cpus": cpus,
            "pids": int(hc.get("PidsLimit") or 0), "cpu_shares": int(hc.get("CpuShares") or 0)}


class MonitorServer:
    def __init__(self, stats: StatsService, containers: ContainerService) -> None:
        self._stats = stats
        self._containers = containers
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(ContainerMetrics(stats, containers.all))
        self._runner: web.AppRunner | None = None
        self.bound: tuple[str, int] | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/api/v1/summary", self._summary)
        app.router.add_get("/api/v1/containers/{ref}", self._container)
        app.router.add_get("/api/v1/history/{key}", self._history)
        return app

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0)  # its answers are all quick
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.bound = (host, sockets[0].getsockname()[1] if sockets else port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- handlers ------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(_STATIC / "index.html", headers={"Content-Type": "text/html"})

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = _STATIC / name
        # Only files that ship in the package's static dir, by plain name: no traversal.
        if "/" in name or name.startswith(".") or path.suffix not in _TYPES or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Content-Type": _TYPES[path.suffix],
                                               "Cache-Control": "no-cache"})

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=render(self._registry),
                            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    def _container_json(self, c: Container) -> dict[str, Any]:
        latest = self._stats.history.latest(c.id)
        return {"id": c.id, "short_id": c.short_id, "name": c.name, "image": c.image_ref,
                "state": c.state.status, "status": c.status_text(), "pid": c.state.pid,
                "created": c.created, "started_at": c.state.started_at, "limits": _limits(c),
                "command": c.command_text(),
                "latest": latest.to_json() if latest is not None else None}

    async def _summary(self, request: web.Request) -> web.StreamResponse:
        host = self._stats.host_latest()
        latest = self._stats.history.latest(HOST_KEY)
        cs = self._stats.collector_stats()
        items = sorted(self._containers.all(), key=lambda c: (not c.state.running, c.name))
        return web.json_response({
            "host": {"cpus": host.online_cpus if host else 0,
                     "memory": host.memory_total if host else 0,
                     "latest": latest.to_json() if latest is not None else None},
            "collector": {"rounds": cs.rounds, "containers": cs.containers,
                          "interval": self._stats.interval,
                          "last_round_ms": round(cs.last_round_seconds * 1000, 3),
                          "cpu_seconds": round(cs.cpu_seconds, 3),
                          "history_points": self._stats.history.capacity,
                          "cgroup_version": self._stats.cgroup_version},
            "containers": [self._container_json(c) for c in items]})

    def _find(self, ref: str) -> Container:
        try:
            return self._containers.get(ref)
        except BerthError:
            body = json.dumps({"message": f"No such container: {ref}"})
            raise web.HTTPNotFound(text=body, content_type="application/json") from None

    async def _container(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._container_json(self._find(request.match_info["ref"])))

    async def _history(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        try:
            since = float(request.query.get("since", "0") or 0)
        except ValueError:
            raise web.HTTPBadRequest(text='{"message": "invalid since"}',
                                     content_type="application/json") from None
        if key != HOST_KEY:
            key = self._find(key).id
        points = self._stats.points(key, since)
        return web.json_response({"key": key, "interval": self._stats.interval,
                                  "points": [p.to_json() for p in points]})
