"""Query-string and body parsing with the Docker API's rules (Go booleans, filters JSON)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from berth.errors import InvalidArgument

__all__ = ["json_body", "qbool", "qfilters", "qint", "qstr"]

_FALSE = {"", "0", "no", "false", "none"}


def qbool(request: web.Request, name: str, default: bool = False) -> bool:
    """Go's rule: absent -> default; ""/0/no/false/none (any case) -> False; anything else -> True."""
    if name not in request.query:
        return default
    return request.query[name].strip().lower() not in _FALSE


def qstr(request: web.Request, name: str, default: str = "") -> str:
    return request.query.get(name, default)


def qint(request: web.Request, name: str, default: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidArgument(f"invalid value for {name}: {raw!r} is not an integer") from None


def qfilters(request: web.Request) -> dict[str, list[str]]:
    """Accept both the CLI's map form {"k":{"v":true}} and the SDK's list form {"k":["v"]}."""
    raw = request.query.get("filters", "")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"invalid filters: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArgument("invalid filters: expected a JSON object")
    out: dict[str, list[str]] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out[key] = [str(k) for k, v in value.items() if v]
        elif isinstance(value, list):
            out[key] = [str(v) for v in value]
        elif isinstance(value, str):
            out[key] = [value]
        else:
            raise InvalidArgument(f"invalid filter value for {key!r}")
    return out


async def json_body(request: web.Request, *, required: bool = True) -> dict[str, Any]:
    """Parse a JSON object body; an empty body is {} unless ``required``."""
    raw = await request.read()
    if not raw.strip():
        if required:
            raise InvalidArgument("request body is required")
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"invalid JSON body: {exc}") from None
    if data is None and not required:
        return {}
    if not isinstance(data, dict):
        raise InvalidArgument("invalid JSON body: expected an object")
    return data
