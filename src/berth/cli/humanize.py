"""Docker's human-readable renderings: durations, sizes, truncation and Go-style quoting.

Owns exact reproductions of go-units ``HumanDuration`` / ``HumanSizeWithPrecision`` /
``RAMInBytes`` and docker's ``Ellipsis``. Pure functions; must not do I/O.
"""

from __future__ import annotations

import json
import re

from berth.errors import InvalidArgument
from berth.humanize import human_duration, human_size

__all__ = [
    "ellipsis",
    "go_quote",
    "human_duration",
    "human_size",
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
