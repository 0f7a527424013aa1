"""The one table from berth error classes to HTTP status codes, and the JSON error body.

Services and routes raise ``berth.errors`` classes; only this module picks a status code.
"""

from __future__ import annotations

import json

from aiohttp import web

from berth import errors

__all__ = ["STATUS", "error_response", "status_for"]

STATUS: dict[type[errors.BerthError], int] = {
    errors.InvalidArgument: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.AlreadyExists: 409,
    errors.Conflict: 409,
    errors.NotModified: 304,
    errors.RuntimeFailure: 400,
    errors.Unavailable: 503,
    errors.Internal: 500,
}


def status_for(err: errors.BerthError) -> int:
    for cls in type(err).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_response(status: int, message: str) -> web.Response:
    if status == 304:
        return web.Response(status=304)
    # Exactly "application/json": the docker CLI compares the header verbatim and prints the
    # raw body instead of the message when aiohttp's "; charset=utf-8" is appended.
    return web.Response(status=status, headers={"Content-Type": "application/json"},
                        body=(json.dumps({"message": message}) + "\n").encode())
