"""``run``/``create`` health-check flags -> ``Config.Healthcheck``: --health-cmd,
--health-interval, --health-timeout, --health-start-period, --health-retries,
--no-healthcheck.

Owns the docker CLI's checks and messages for them. --health-start-interval is refused:
berthd's health checks have no start interval.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Final

from berth.cli.context import UsageError
from berth.cli.humanize import parse_go_duration
from berth.cli.resourceflags import go_int

__all__ = ["add_flags", "apply_flags"]

_DURATIONS: Final = (("interval", "Interval"), ("timeout", "Timeout"),
                     ("start_period", "StartPeriod"))


def add_flags(add: Callable[..., Any]) -> None:
    add("--health-cmd", default="")
    add("--health-interval", default="0s")
    add("--health-timeout", default="0s")
    add("--health-start-period", default="0s")
    add("--health-retries", default="0")


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
