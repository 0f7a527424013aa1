"""Volume commands: ``volume create|ls|inspect|rm|prune``, docker's flags and output."""

from __future__ import annotations

import json
import sys
from typing import Any

from berth.cli.context import CLIContext, UsageError, make_parser
from berth.cli.formatting import render
from berth.client.api import encode_filters
from berth.errors import BerthError

__all__ = ["cmd_volume"]

_HEADERS = {"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT"}
_LS_DEFAULT = "table {{.Driver}}\t{{.Name}}"


def cmd_volume(ctx: CLIContext, argv: list[str]) -> int:
    if not argv:
        raise UsageError("\"berth volume\" requires a subcommand: create, inspect, ls, prune, rm")
    handlers = {"create": _create, "ls": _ls, "list": _ls, "inspect": _inspect, "rm": _rm,
                "remove": _rm, "prune": _prune}
    if argv[0] not in handlers:
        raise UsageError(f"unknown volume command: {argv[0]!r}")
    try:
        return handlers[argv[0]](ctx, argv[1:])
    except BerthError as exc:
        ctx.fail(exc)
        return 1


def _filters(items: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError("bad format of filter (expected name=value)")
        out.setdefault(key.strip().lower(), []).append(value)
    return out


def _create(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("volume create", "Create a volume")
    p.add_argument("-d", "--driver", default="local")
    p.add_argument("--label", action="append", default=[])
    p.add_argument("-o", "--opt", action="append", default=[])
    p.add_argument("name", nargs="?", default="")
    ns = p.parse_args(argv)
    body = {"Name": ns.name, "Driver": ns.driver,
            "Labels": {k: v for k, _, v in (i.partition("=") for i in ns.label)},
            "DriverOpts": {k: v for k, _, v in (i.partition("=") for i in ns.opt)}}
    out = ctx.client.request("POST", "/volumes/create", body=body).json()
    sys.stdout.write(out["Name"] + "\n")
    return 0


def _ls(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("volume ls", "List volumes")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format")
    ns = p.parse_args(argv)
    query = {}
    enc = encode_filters(_filters(ns.filter))
    if enc:
        query["filters"] = enc
    out = ctx.client.request("GET", "/volumes", query=query).json()
    rows: list[dict[str, Any]] = [
        {"Driver": v["Driver"], "Name": v["Name"], "Mountpoint": v["Mountpoint"], "Scope": v["Scope"],
         "Labels": ",".join(f"{k}={x}" for k, x in (v.get("Labels") or {}).items())}
        for v in out.get("Volumes") or []]
    if ns.quiet:
        sys.stdout.write("".join(r["Name"] + "\n" for r in rows))
        return 0
    fmt = ns.format or _LS_DEFAULT
    sys.stdout.write(render(_LS_DEFAULT if fmt == "table" else fmt, rows, _HEADERS))
    return 0


def _inspect(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("volume inspect", "Display detailed information on one or more volumes")
    p.add_argument("-f", "--format")
    p.add_argument("names", nargs="+")
    ns = p.parse_args(argv)
    found, rc = [], 0
    for name in ns.names:
        try:
            found.append(ctx.client.request("GET", f"/volumes/{name}").json())
        except BerthError as exc:
            ctx.fail(exc)
            rc = 1
    if ns.format:
        sys.stdout.write(render(ns.format, found, {}))
    else:
        sys.stdout.write(json.dumps(found, indent=4) + "\n")
    return rc


def _rm(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("volume rm", "Remove one or more volumes")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("names", nargs="+")
    ns = p.parse_args(argv)
    rc = 0
    for name in ns.names:
        try:
            ctx.client.request("DELETE", f"/volumes/{name}",
                               query={"force": "1"} if ns.force else None).read()
            sys.stdout.write(name + "\n")
        except BerthError as exc:
            ctx.fail(exc)
            rc = 1
    return rc


def _prune(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("volume prune", "Remove unused local volumes")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--filter", action="append", default=[])
    ns = p.parse_args(argv)
    if not ns.force:
        raise UsageError("volume prune needs --force when not interactive")
    filters = _filters(ns.filter)
    if ns.all:
        filters["all"] = ["true"]
    query = {}
    enc = encode_filters(filters)
    if enc:
        query["filters"] = enc
    out = ctx.client.request("POST", "/volumes/prune", query=query).json()
    deleted = out.get("VolumesDeleted") or []
    if deleted:
        sys.stdout.write("Deleted Volumes:\n" + "".join(n + "\n" for n in deleted) + "\n")
    sys.stdout.write(f"Total reclaimed space: {out.get('SpaceReclaimed', 0)}B\n")
    return 0
