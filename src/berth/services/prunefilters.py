"""Docker's prune filters, shared by container and image prune: ``until`` and ``label``/``label!``.

Owns parsing ``until`` the way moby does (unix seconds with optional fraction, RFC 3339
date/time, or a Go duration such as ``24h`` / ``90m`` counted back from now) and matching
labels (``k``, ``k=v``; ``label!`` negates). Unknown keys and bad values are InvalidArgument.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from berth import errors
from berth.timefmt import parse_to_ns

__all__ = ["PruneFilters", "parse_prune_filters", "parse_until"]

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
            "m": 60_000_000_000, "h": 3_600_000_000_000}


def parse_until(value: str, now_ns: int | None = None) -> int:
    """``until`` as nanoseconds since the epoch."""
    now = time.time_ns() if now_ns is None else now_ns
    text = value.strip()
    if _DURATION.match(text):
        ago = sum(float(n) * _UNIT_NS[u] for n, u in _DURATION_PART.findall(text))
        return now - int(ago)
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return int(float(text) * 1_000_000_000)
    try:
        return parse_to_ns(text if "T" in text else text + "T00:00:00Z")
    except (ValueError, errors.InvalidArgument):
        raise errors.InvalidArgument(f"invalid filter 'until={value}'") from None


@dataclass(frozen=True)
class PruneFilters:
    """Parsed prune filters; ``until_ns`` None means no age limit."""

    until_ns: int | None = None
    labels: tuple[str, ...] = ()
    not_labels: tuple[str, ...] = ()

    def matches(self, created_ns: int, labels: Mapping[str, str]) -> bool:
        if self.until_ns is not None and created_ns >= self.until_ns:
            return False
        if not all(_label_match(labels, want) for want in self.labels):
            return False
        return not any(_label_match(labels, want) for want in self.not_labels)


def parse_prune_filters(filters: Mapping[str, list[str]], extra: Collection[str] = ()) -> PruneFilters:
    """Check keys (``until``, ``label``, ``label!`` plus ``extra``) and parse the shared ones."""
    for key in filters:
        if key not in ("until", "label", "label!") and key not in extra:
            raise errors.InvalidArgument(f"Invalid filter '{key}'")
    until = None
    for value in filters.get("until", []):
        until = parse_until(value)
    return PruneFilters(until, tuple(filters.get("label", [])), tuple(filters.get("label!", [])))


def _label_match(labels: Mapping[str, str], want: str) -> bool:
    key, eq, value = want.partition("=")
    return key in labels and (not eq or labels[key] == value)
