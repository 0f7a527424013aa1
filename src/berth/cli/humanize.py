"""Docker's human-readable renderings: durations, sizes, truncation and Go-style quoting.

Owns exact reproductions of go-units ``HumanDuration`` / ``HumanSizeWithPrecision`` /
``RAMInBytes`` and docker's ``Ellipsis``. Pure functions; must not do I/O.
"""

from __future__ import annotations

import json
import re

from berth.errors import InvalidArgument

__all__ = [
    "ellipsis",
    "go_quote",
    "human_duration",
    "human_size",
    "parse_ram_bytes",
]

_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_RAM = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$", re.IGNORECASE)


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: ``Less than a second``, ``2 minutes``, ``About an hour``..."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    # Go rounds half away from zero; Python's round() is banker's rounding.
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision (decimal units): ``4.26MB``, ``0B``, ``1.2kB``."""
    i = 0
    while size >= 1000.0 and i < len(_DECIMAL_UNITS) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.{precision}g}{_DECIMAL_UNITS[i]}"


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
