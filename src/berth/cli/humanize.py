"""Docker's human-readable renderings: durations, sizes, truncation and Go-style quoting.

Owns exact reproductions of go-units ``HumanDuration`` / ``HumanSizeWithPrecision`` /
``RAMInBytes``, Go's ``time.ParseDuration`` and docker's ``Ellipsis``. Pure functions; must not do I/O.
"""

from __future__ import annotations

import json
import re
from typing import Final

from berth.errors import InvalidArgument
from berth.humanize import human_duration, human_size

__all__ = [
    "ellipsis",
    "go_quote",
    "human_duration",
    "human_size",
    "parse_go_duration",
    "parse_ram_bytes",
]

_RAM = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$", re.IGNORECASE)


def parse_ram_bytes(text: str) -> int:
    """go-units RAMInBytes: ``512m`` -> 536870912 (binary multiples, suffix b/k/m/g/t/p)."""
    m = _RAM.match(text.strip())
    if not m:
        raise InvalidArgument(f"invalid size: '{text}'")
    value = float(m.group(1))
    power = "bkmgtp".index(m.group(2).lower() or "b")
    return int(value * (1024**power))


def ellipsis(text: str, width: int) -> str:
    """docker's formatter.Ellipsis: cut to ``width`` characters with a trailing ``…``."""
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    return text[: width - 1] + "…"


def go_quote(text: str) -> str:
    """Close to Go's strconv.Quote: double quotes, escapes, printable Unicode kept."""
    return json.dumps(text, ensure_ascii=False)


_DURATION_UNITS: Final = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9,
                         "m": 60 * 10**9, "h": 3600 * 10**9}
_DURATION_PART: Final = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)?")


def parse_go_duration(text: str) -> int:
    """time.ParseDuration -> nanoseconds; raise ValueError with Go's message."""
    invalid = ValueError(f'time: invalid duration "{text}"')
    rest, sign = text, 1
    if rest[:1] in ("-", "+"):
        sign, rest = (-1 if rest[0] == "-" else 1), rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise invalid
    total = 0.0
    while rest:
        m = _DURATION_PART.match(rest)
        if not m or m.group(1) == ".":
            raise invalid
        if not m.group(2):
            raise ValueError(f'time: missing unit in duration "{text}"')
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        rest = rest[m.end():]
    return sign * int(total)
