"""Timestamps in the API's formats: RFC 3339 with nanoseconds (Go's RFC3339Nano) and Go's zero time."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

__all__ = ["ZERO_TIME", "format_ns", "now_ns", "parse_to_ns"]

ZERO_TIME = "0001-01-01T00:00:00Z"
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")


def now_ns() -> int:
    return time.time_ns()


def format_ns(ns: int, *, trim: bool = True) -> str:
    """``2026-11-27T19:54:50.802105202Z``; with ``trim`` trailing zeros go, as Go's RFC3339Nano does."""
    secs, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{frac:09d}"
    if trim:
        digits = digits.rstrip("0")
    return f"{base}.{digits}Z" if digits else f"{base}Z"


def parse_to_ns(text: str) -> int:
    """Parse RFC 3339 (any fraction length, Z or offset) to ns since the epoch; zero time -> 0."""
    if text == ZERO_TIME or not text:
        return 0
    m = _RFC3339.match(text)
    if not m:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    base, frac, zone = m.groups()
    dt = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    return int(dt.timestamp()) * 1_000_000_000 + int((frac or "0").ljust(9, "0"))
