"""Routing and API-version negotiation for the Docker Engine API.

Every route is served both unversioned (= the newest version) and under ``/vX.Y/``.
The version a request speaks is stored in ``request["api_version"]`` as a (major, minor)
tuple; every response carries the headers real clients read (API-Version, Ostype, Server).
The middleware is the one place a handler's exception becomes an answer: berth errors through
``errors.status_for``, a client that left (``disconnect``) quietly, anything else a logged 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from berth import __version__, errors
from berth.daemon.api.disconnect import client_gone
from berth.daemon.api.errors import error_response, status_for
from berth.daemon.api.inflight import INFLIGHT, InFlight

__all__ = ["API_VERSION", "MIN_API_VERSION", "Handler", "Router", "make_app"]

API_VERSION = "1.45"
MIN_API_VERSION = "1.24"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_log = logging.getLogger("berth.api")
_SERVER = f"berth/{__version__} (linux)"


def _parse_version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


_MAX = _parse_version(API_VERSION)
_MIN = _parse_version(MIN_API_VERSION)


def _common_headers(resp: web.StreamResponse) -> None:
    resp.headers["Api-Version"] = API_VERSION
    resp.headers["Ostype"] = "linux"
    resp.headers["Server"] = _SERVER
    resp.headers["Docker-Experimental"] = "false"


async def _on_prepare(request: web.Request, resp: web.StreamResponse) -> None:
    _common_headers(resp)


@web.middleware
async def _version_and_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    raw = request.match_info.get("api_version")
    if raw is not None:
        version = _parse_version(raw)
        if version > _MAX:
            return error_response(400, f"client version {raw} is too new. Maximum supported "
                                  f"API version is {API_VERSION}")
        if version < _MIN:
            return error_response(400, f"client version {raw} is too old. Minimum supported "
                                  f"API version is {MIN_API_VERSION}, please upgrade your "
                                  "client to a newer version")
        request["api_version"] = version
    else:
        request["api_version"] = _MAX
    try:
        return await handler(request)
    except errors.BerthError as err:
        status = status_for(err)
        if status >= 500:
            _log.error("%s %s: %s", request.method, request.path, err)
        else:
            _log.debug("%s %s: %d %s", request.method, request.path, status, err)
        return error_response(status, str(err))
    except web.HTTPNotFound:
        return error_response(404, "page not found")
    except web.HTTPMethodNotAllowed:
        return error_response(405, "method not allowed")
    except web.HTTPException:
        raise
    except ConnectionError as exc:
        if not client_gone(request):
            _log.exception("%s %s failed", request.method, request.path)
            return error_response(500, f"internal error: {exc}")
        # The client left (Ctrl-C, a closed stream): nothing to answer, nothing went wrong.
        _log.debug("%s %s: client went away (%s)", request.method, request.path, exc)
        return web.Response()
    except Exception as exc:
        _log.exception("%s %s failed", request.method, request.path)
        return error_response(500, f"internal error: {exc}")


class Router:
    """Registers each handler under both the bare path and the ``/vX.Y`` prefix."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    def add(self, method: str, path: str, handler: Handler) -> None:
        self._app.router.add_route(method, path, handler)
        self._app.router.add_route(method, r"/v{api_version:\d+\.\d+}" + path, handler)


def make_app(register: list[Callable[[Router], None]]) -> web.Application:
    """The API application; ``app[INFLIGHT]`` holds its requests in flight (for the shutdown)."""
    inflight = InFlight()
    app = web.Application(middlewares=[inflight.middleware, _version_and_errors],
                          client_max_size=1 << 40, handler_args={"max_field_size": 1 << 20})
    app[INFLIGHT] = inflight
    app.on_response_prepare.append(_on_prepare)
    app.on_response_prepare.append(inflight.on_prepare)
    router = Router(app)
    for reg in register:
        reg(router)
    return app
