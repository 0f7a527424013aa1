"""The reverse of the daemon's error table: HTTP status codes back to ``berth.errors`` classes.

Owns only that mapping and the extraction of the daemon's ``{"message"}``. Must not print.
"""

from __future__ import annotations

import json

from berth.errors import (
    BerthError,
    Conflict,
    Forbidden,
    Internal,
    InvalidArgument,
    NotFound,
    NotModified,
    Unauthorized,
    Unavailable,
)

__all__ = ["error_for_status", "message_from_body"]

_BY_STATUS: dict[int, type[BerthError]] = {
    304: NotModified,
    400: InvalidArgument,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    500: Internal,
    503: Unavailable,
}


def message_from_body(body: bytes, status: int) -> str:
    """The daemon's ``message`` field, or the raw body text when it is not Docker's JSON shape."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return text or f"unexpected status {status}"


def error_for_status(status: int, body: bytes) -> BerthError:
    """The berth error for a non-2xx response (unknown 4xx -> InvalidArgument, 5xx -> Internal)."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = InvalidArgument if 400 <= status < 500 else Internal
    return cls(message_from_body(body, status))
