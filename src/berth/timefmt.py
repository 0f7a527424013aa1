"""Timestamps in the API's formats: RFC 3339 with nanoseconds and Go's zero time.

Owns the conversion between Unix-epoch nanoseconds (what berth records) and the text forms
``2026-11-27T19:54:50.802105202Z`` (fixed nine digits, as Docker writes logs) and Go's
RFC3339Nano (trailing zeros trimmed, as Docker writes Created/StartedAt). Reads no clock
except in :func:`now_ns`.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from berth.errors import InvalidArgument

__all__ = [
    "ZERO_TIME",
    "datetime_to_ns",
    "format_ns",
    "format_rfc3339nano",
    "now_ns",
    "ns_to_datetime",
    "parse_rfc3339nano",
    "parse_to_ns",
]

ZERO_TIME = "0001-01-01T00:00:00Z"
_NS = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(Z|z|[+-]\d{2}:\d{2})$"
)


def format_rfc3339nano(ns: int) -> str:
    """UTC with exactly nine fractional digits (Docker's RFC3339NanoFixed)."""
    secs, frac = divmod(ns, _NS)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def parse_rfc3339nano(text: str) -> int:
    """Unix nanoseconds of an RFC 3339 timestamp with 0-9 fractional digits and any offset."""
    m = _RFC3339.match(text)
    if m is None:
        raise InvalidArgument(f"invalid RFC 3339 timestamp {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac = int((m.group(7) or "0").ljust(9, "0"))
    zone = m.group(8)
    offset = 0
    if zone not in ("Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        offset = sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    whole = datetime(year, month, day, hour, minute, second, tzinfo=UTC) - _EPOCH
    secs = whole.days * 86400 + whole.seconds - offset
    return secs * _NS + frac


def ns_to_datetime(ns: int) -> datetime:
    """An aware UTC datetime; microsecond precision is all ``datetime`` can hold."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def datetime_to_ns(value: datetime) -> int:
    """Unix nanoseconds of ``value``; a naive datetime is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * _NS + delta.microseconds * 1000


def now_ns() -> int:
    return time.time_ns()


def format_ns(ns: int, *, trim: bool = True) -> str:
    """Go's RFC3339Nano (trailing zeros trimmed); ``trim=False`` keeps all nine digits."""
    text = format_rfc3339nano(ns)
    if not trim:
        return text
    base, frac = text[:-1].split(".")
    frac = frac.rstrip("0")
    return f"{base}.{frac}Z" if frac else f"{base}Z"


def parse_to_ns(text: str) -> int:
    """Like :func:`parse_rfc3339nano`, but Go's zero time (and "") is 0."""
    if text == ZERO_TIME or not text:
        return 0
    return parse_rfc3339nano(text)
