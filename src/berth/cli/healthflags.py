"""``run``/``create`` health-check flags -> ``Config.Healthcheck``: --health-cmd,
--health-interval, --health-timeout, --health-start-period, --health-retries,
--no-healthcheck.

Owns Go's duration syntax (``1m30s``, ``1.5s``, ``250ms``) and the docker CLI's checks and
messages. --health-start-interval is not offered: berthd has no start-period probe interval.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import Any, Final

from berth.cli.context import UsageError
from berth.cli.resourceflags import go_int

__all__ = ["add_flags", "apply_flags", "parse_go_duration"]

_UNITS: Final = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9,
                 "m": 60 * 10**9, "h": 3600 * 10**9}
_PART: Final = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)?")
_DURATIONS: Final = (("interval", "Interval"), ("timeout", "Timeout"),
                     ("start_period", "StartPeriod"))


def add_flags(add: Callable[..., Any]) -> None:
    add("--health-cmd", default="")
    add("--health-interval", default="0s")
    add("--health-timeout", default="0s")
    add("--health-start-period", default="0s")
    add("--health-retries", default="0")


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
        m = _PART.match(rest)
        if not m or m.group(1) == ".":
            raise invalid
        if not m.group(2):
            raise ValueError(f'time: missing unit in duration "{text}"')
        total += float(m.group(1)) * _UNITS[m.group(2)]
        rest = rest[m.end():]
    return sign * int(total)


def apply_flags(ns: argparse.Namespace, body: dict[str, Any], no_healthcheck: bool) -> None:
    durations: dict[str, int] = {}
    for attr, field in _DURATIONS:
        text = getattr(ns, f"health_{attr}")
        flag = f"--health-{attr.replace('_', '-')}"
        try:
            durations[field] = parse_go_duration(text)
        except ValueError as exc:
            raise UsageError(f'invalid argument "{text}" for "{flag}" flag: {exc}') from None
        if durations[field] < 0:
            raise UsageError(f"{flag} cannot be negative")
    retries = go_int(ns.health_retries, "--health-retries")
    if retries < 0:
        raise UsageError("--health-retries cannot be negative")
    options_set = ns.health_cmd or retries or any(durations.values())
    if no_healthcheck:
        if options_set:
            raise UsageError("--no-healthcheck conflicts with --health-* options")
        body["Healthcheck"] = {"Test": ["NONE"]}
    elif options_set:
        check: dict[str, Any] = {}
        if ns.health_cmd:
            check["Test"] = ["CMD-SHELL", ns.health_cmd]
        check.update({k: v for k, v in durations.items() if v})
        if retries:
            check["Retries"] = retries
        body["Healthcheck"] = check
