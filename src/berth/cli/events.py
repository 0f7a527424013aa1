"""``berth events``: the daemon's event stream, replayed from ``--since`` and live until
``--until`` (or Ctrl-C), in docker's text form or through ``--format``.

Durations (``10m``) and timestamps (RFC 3339, unix seconds) become the ``sec.nanos`` the
API takes, as the docker CLI converts them.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Mapping
from typing import Any

from berth.cli.context import CLIContext, UsageError, make_parser
from berth.cli.objects import parse_filters
from berth.cli.template import parse_template
from berth.client.api import encode_filters
from berth.errors import BerthError
from berth.timefmt import format_ns, parse_rfc3339nano

__all__ = ["cmd_events", "event_line", "to_api_time"]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)$")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def to_api_time(value: str, now: float | None = None) -> str:
    """docker's GetTimestamp: a Go duration is "that long ago"; else unix seconds or RFC 3339."""
    now = time.time() if now is None else now
    m = _DURATION.match(value)
    if m:
        return f"{now - float(m.group(1)) * _UNIT_S[m.group(2)]:.9f}"
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return value
    try:
        ns = parse_rfc3339nano(value if "T" in value else value + "T00:00:00Z")
    except (ValueError, BerthError):
        raise UsageError(f"invalid time value {value!r}") from None
    return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


def event_line(ev: Mapping[str, Any]) -> str:
    """docker's default line: ``<time> <Type> <Action> <ID> (k=v, ...)`` with sorted attributes."""
    actor = ev.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    when = format_ns(int(ev.get("timeNano", 0)), trim=False)
    text = f"{when} {ev.get('Type', '')} {ev.get('Action', '')} {actor.get('ID', '')}"
    if attrs:
        text += " (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")"
    return text


def cmd_events(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("events", "Get real time events from the server")
    p.add_argument("--since", help="show events created since timestamp or duration")
    p.add_argument("--until", help="stream events until this timestamp or duration")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format", help="json or a Go template")
    ns = p.parse_args(argv)
    query: dict[str, Any] = {
        "since": to_api_time(ns.since) if ns.since else None,
        "until": to_api_time(ns.until) if ns.until else None,
        "filters": encode_filters(parse_filters(ns.filter)),
    }
    template = None
    if ns.format and ns.format != "json":
        template = parse_template(ns.format.replace("\\t", "\t").replace("\\n", "\n"))
    try:
        # No read timeout: the stream is idle for as long as nothing happens.
        resp = ctx.client.request("GET", "/events", query, timeout=365 * 24 * 3600.0)
        for raw in resp.iter_lines():
            if not raw.strip():
                continue
            ev = json.loads(raw)
            if ns.format == "json":
                line = json.dumps(ev, separators=(",", ":"))
            elif template is not None:
                line = template.render(ev)
            else:
                line = event_line(ev)
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 0
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    return 0
