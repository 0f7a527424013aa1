"""Volume commands: ``volume create|ls|inspect|rm|prune``, docker's flags and output."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from berth.cli.context import CLIContext, GoBool, UsageError, make_parser
from berth.cli.objects import (
    dispatch,
    filters_query,
    inspect_command,
    labels_text,
    list_command,
    parse_filters,
    remove_each,
)

__all__ = ["cmd_volume"]

_HEADERS = {"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT"}
_LS_DEFAULT = "table {{.Driver}}\t{{.Name}}"


def cmd_volume(ctx: CLIContext, argv: list[str]) -> int:
    return dispatch("volume", {"create": _create, "ls": _ls, "list": _ls,
                               "inspect": inspect_command("volume", "volumes"), "rm": _rm,
                               "remove": _rm, "prune": _prune}, ctx, argv)


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


def _ls_rows(answer: dict[str, Any], ns: argparse.Namespace) -> list[dict[str, Any]]:
    return [{"Driver": v["Driver"], "Name": v["Name"], "Mountpoint": v["Mountpoint"], "Scope": v["Scope"],
             "Labels": labels_text(v)} for v in answer.get("Volumes") or []]


_ls = list_command("volume", "List volumes", "/volumes", _ls_rows, quiet="Name", default=_LS_DEFAULT,
                   headers=_HEADERS)


def _rm(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("volume rm", "Remove one or more volumes")
    p.add_argument("-f", "--force", action=GoBool)
    p.add_argument("names", nargs="+")
    ns = p.parse_args(argv)
    return remove_each(ctx, lambda name: f"/volumes/{name}", ns.names,
                       query={"force": "1"} if ns.force else None)


def _prune(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("volume prune", "Remove unused local volumes")
    p.add_argument("-a", "--all", action=GoBool)
    p.add_argument("-f", "--force", action=GoBool)
    p.add_argument("--filter", action="append", default=[])
    ns = p.parse_args(argv)
    if not ns.force:
        raise UsageError("volume prune needs --force when not interactive")
    filters = parse_filters(ns.filter)
    if ns.all:
        filters["all"] = ["true"]
    out = ctx.client.request("POST", "/volumes/prune", query=filters_query(filters)).json()
    deleted = out.get("VolumesDeleted") or []
    if deleted:
        sys.stdout.write("Deleted Volumes:\n" + "".join(n + "\n" for n in deleted) + "\n")
    sys.stdout.write(f"Total reclaimed space: {out.get('SpaceReclaimed', 0)}B\n")
    return 0
