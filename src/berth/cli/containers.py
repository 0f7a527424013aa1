"""Container commands other than the start-up flows: ``stop``, ``kill``, ``restart``, ``rm``,
``ps``, ``logs``.

Owns their flags, the calls they make (API-CHECKLIST order) and their output. Must not
implement attach/start-up (``berth.cli.run``) or column formatting (``berth.cli.formatting``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from berth.cli.context import CLIContext, GoBool, UsageError, make_parser
from berth.cli.formatting import CONTAINER_HEADERS, container_row, render
from berth.cli.humanize import parse_go_duration
from berth.cli.objects import parse_filters
from berth.cli.streams import write_all
from berth.client import FrameDecoder, StreamType
from berth.errors import BerthError

__all__ = ["cmd_kill", "cmd_logs", "cmd_ps", "cmd_restart", "cmd_rm", "cmd_stop"]

_PS_DEFAULT = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"


def _each(ctx: CLIContext, refs: list[str], call: Callable[[str], None],
          parallel: bool = False) -> int:
    """Apply ``call(ref)`` to every ref, printing the ref on success; 1 if any failed."""

    def one(ref: str) -> tuple[str, BerthError | None]:
        try:
            call(ref)
            return ref, None
        except BerthError as exc:
            return ref, exc

    if parallel and len(refs) > 1:
        from concurrent.futures import ThreadPoolExecutor  # ~15 ms: only when several run at once

        with ThreadPoolExecutor(max_workers=min(len(refs), 16)) as pool:
            results = list(pool.map(one, refs))
    else:
        results = [one(ref) for ref in refs]
    status = 0
    for ref, err in results:
        if err is None:
            sys.stdout.write(ref + "\n")
        else:
            ctx.fail(err)
            status = 1
    sys.stdout.flush()
    return status


def _stop_or_restart(ctx: CLIContext, argv: list[str], restart: bool) -> int:
    what = "restart" if restart else "stop"
    p = make_parser(what, "Restart one or more containers" if restart
                    else "Stop one or more running containers")
    p.add_argument("-t", "--time", "--timeout", type=int, dest="timeout")
    p.add_argument("-s", "--signal")
    p.add_argument("containers", nargs="+")
    ns = p.parse_args(argv)
    client = ctx.client
    call = client.restart_container if restart else client.stop_container
    return _each(ctx, ns.containers, lambda ref: call(ref, ns.timeout, ns.signal), parallel=True)


def cmd_stop(ctx: CLIContext, argv: list[str]) -> int:
    return _stop_or_restart(ctx, argv, restart=False)


def cmd_restart(ctx: CLIContext, argv: list[str]) -> int:
    return _stop_or_restart(ctx, argv, restart=True)


def cmd_kill(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("kill", "Kill one or more running containers")
    p.add_argument("-s", "--signal")
    p.add_argument("containers", nargs="+")
    ns = p.parse_args(argv)
    client = ctx.client
    return _each(ctx, ns.containers,
                 lambda ref: client.kill_container(ref, ns.signal), parallel=True)


def cmd_rm(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("rm", "Remove one or more containers")
    p.add_argument("-f", "--force", action=GoBool)
    p.add_argument("-v", "--volumes", action=GoBool)
    p.add_argument("-l", "--link", action=GoBool)
    p.add_argument("containers", nargs="+")
    ns = p.parse_args(argv)
    client = ctx.client
    return _each(ctx, ns.containers,
                 lambda ref: client.remove_container(ref, ns.force, ns.volumes, ns.link),
                 parallel=True)


def cmd_ps(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("ps", "List containers")
    p.add_argument("-a", "--all", action=GoBool)
    p.add_argument("-q", "--quiet", action=GoBool)
    p.add_argument("-n", "--last", type=int, default=-1)
    p.add_argument("-l", "--latest", action=GoBool)
    p.add_argument("--no-trunc", action=GoBool)
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("-s", "--size", action=GoBool)
    p.add_argument("--format")
    ns = p.parse_args(argv)
    limit = 1 if ns.latest else (ns.last if ns.last > 0 else None)
    fmt = ns.format or ""
    if fmt == "table":
        fmt = _PS_DEFAULT
    want_size = ns.size or fmt == "json" or "{{.Size}}" in fmt
    try:
        items = ctx.client.list_containers(all=ns.all or limit is not None, limit=limit,
                                           size=want_size, filters=parse_filters(ns.filter))
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    now = time.time()
    rows = [container_row(i, trunc=not ns.no_trunc, now=now) for i in items]
    if ns.quiet:
        fmt = "{{.ID}}"
    elif not fmt:
        fmt = _PS_DEFAULT + ("\t{{.Size}}" if ns.size else "")
    sys.stdout.write(render(fmt, rows, CONTAINER_HEADERS))
    return 0


def cmd_logs(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("logs", "Fetch the logs of a container")
    p.add_argument("-f", "--follow", action=GoBool)
    p.add_argument("-t", "--timestamps", action=GoBool)
    p.add_argument("-n", "--tail", default="all")
    p.add_argument("--since")
    p.add_argument("--until")
    p.add_argument("--details", action=GoBool)
    p.add_argument("container")
    ns = p.parse_args(argv)
    if ns.details:
        raise UsageError("berth does not support --details: berthd records no log attributes")
    client = ctx.client
    try:
        info = client.inspect_container(ns.container)
        tty = bool((info.get("Config") or {}).get("Tty"))
        resp = client.logs(str(info["Id"]), follow=ns.follow, timestamps=ns.timestamps,
                           tail=ns.tail, since=_timestamp(ns.since, "since"),
                           until=_timestamp(ns.until, "until"))
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    decoder = None if tty else FrameDecoder()
    try:
        while True:
            data = resp.read_some()
            if not data:
                break
            if decoder is None:
                write_all(1, data)
                continue
            for frame in decoder.feed(data):
                write_all(2 if frame.stream in (StreamType.STDERR, StreamType.SYSTEM) else 1,
                          frame.data)
    except KeyboardInterrupt:
        return 130
    finally:
        resp.close()
    return 0


def _timestamp(value: str | None, which: str) -> str | None:
    """docker's --since/--until: unix seconds, RFC 3339 (or a date) or a Go duration before now
    (``10m``, ``1h30m``)."""
    if value is None:
        return None
    if value.replace(".", "", 1).isdigit():
        return value
    try:
        ago = parse_go_duration(value)
    except ValueError:
        pass
    else:
        return f"{time.time() - ago / 1e9:.9f}"
    try:
        from datetime import datetime

        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f'invalid value for "{which}": {value}') from exc
    return f"{parsed.timestamp():.9f}"
