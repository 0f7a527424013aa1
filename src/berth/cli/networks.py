"""Network and port commands: ``network create|ls|inspect|rm|prune|connect|disconnect`` and ``port``.

Owns their flags, calls and output (docker's formats). Talks to the daemon only through the
client's generic ``request``; must not parse run flags.
"""

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
from berth.errors import BerthError

__all__ = ["cmd_network", "cmd_port"]

_HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE"}
_LS_DEFAULT = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"


def _kv(items: list[str]) -> dict[str, str]:
    return {k: v for k, _, v in (i.partition("=") for i in items)}


def cmd_network(ctx: CLIContext, argv: list[str]) -> int:
    return dispatch("network", {"create": _create, "ls": _ls, "list": _ls,
                                "inspect": inspect_command("network", "networks"), "rm": _rm,
                                "remove": _rm, "prune": _prune, "connect": _connect,
                                "disconnect": _disconnect}, ctx, argv)


def _create(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("network create", "Create a network")
    p.add_argument("-d", "--driver", default="bridge")
    p.add_argument("--subnet", action="append", default=[])
    p.add_argument("--gateway", action="append", default=[])
    p.add_argument("--ip-range", action="append", default=[])
    p.add_argument("--internal", action=GoBool)
    p.add_argument("--attachable", action=GoBool)
    p.add_argument("--label", action="append", default=[])
    p.add_argument("-o", "--opt", action="append", default=[])
    p.add_argument("name")
    ns = p.parse_args(argv)
    config = [{"Subnet": s, **({"Gateway": ns.gateway[i]} if i < len(ns.gateway) else {})}
              for i, s in enumerate(ns.subnet)]
    body = {"Name": ns.name, "Driver": ns.driver, "Internal": ns.internal, "Attachable": ns.attachable,
            "Labels": _kv(ns.label), "Options": _kv(ns.opt),
            "IPAM": {"Driver": "default", "Config": config}, "CheckDuplicate": True}
    out = ctx.client.request("POST", "/networks/create", body=body).json()
    sys.stdout.write(out["Id"] + "\n")
    return 0


def _ls_rows(items: list[dict[str, Any]], ns: argparse.Namespace) -> list[dict[str, Any]]:
    return [{"ID": n["Id"] if ns.no_trunc else n["Id"][:12], "Name": n["Name"], "Driver": n["Driver"],
             "Scope": n["Scope"], "Internal": n["Internal"], "Labels": labels_text(n)}
            for n in sorted(items, key=lambda n: n["Name"])]


_ls = list_command("network", "List networks", "/networks", _ls_rows, quiet="ID", default=_LS_DEFAULT,
                   headers=_HEADERS, no_trunc=True)


def _rm(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("network rm", "Remove one or more networks")
    p.add_argument("-f", "--force", action=GoBool)
    p.add_argument("names", nargs="+")
    ns = p.parse_args(argv)
    # -f: "Do not error if the network does not exist".
    return remove_each(ctx, lambda name: f"/networks/{name}", ns.names, quiet_errors=ns.force)


def _prune(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("network prune", "Remove all unused networks")
    p.add_argument("-f", "--force", action=GoBool)
    p.add_argument("--filter", action="append", default=[])
    ns = p.parse_args(argv)
    if not ns.force:
        raise UsageError("network prune needs --force when not interactive")
    out = ctx.client.request("POST", "/networks/prune",
                             query=filters_query(parse_filters(ns.filter))).json()
    deleted = out.get("NetworksDeleted") or []
    if deleted:
        sys.stdout.write("Deleted Networks:\n" + "".join(n + "\n" for n in deleted))
    return 0


def _connect(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("network connect", "Connect a container to a network")
    p.add_argument("--alias", action="append", default=[])
    p.add_argument("--ip")
    p.add_argument("network")
    p.add_argument("container")
    ns = p.parse_args(argv)
    endpoint: dict[str, Any] = {"Aliases": ns.alias}
    if ns.ip:
        endpoint["IPAMConfig"] = {"IPv4Address": ns.ip}
    ctx.client.request("POST", f"/networks/{ns.network}/connect",
                       body={"Container": ns.container, "EndpointConfig": endpoint}).read()
    return 0


def _disconnect(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("network disconnect", "Disconnect a container from a network")
    p.add_argument("-f", "--force", action=GoBool)
    p.add_argument("network")
    p.add_argument("container")
    ns = p.parse_args(argv)
    ctx.client.request("POST", f"/networks/{ns.network}/disconnect",
                       body={"Container": ns.container, "Force": ns.force}).read()
    return 0


def cmd_port(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("port", "List port mappings or a specific mapping for the container")
    p.add_argument("container")
    p.add_argument("private_port", nargs="?")
    ns = p.parse_args(argv)
    try:
        info = ctx.client.inspect_container(ns.container)
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    ports: dict[str, Any] = (info.get("NetworkSettings") or {}).get("Ports") or {}
    if ns.private_port:
        key = ns.private_port if "/" in ns.private_port else ns.private_port + "/tcp"
        bindings = ports.get(key)
        if not bindings:
            ctx.error(f"Error: No public port '{key}' published for {ns.container}")
            return 1
        sys.stdout.write("".join(_addr(b) + "\n" for b in bindings))
        return 0
    for key in sorted(ports, key=lambda k: (int(k.split("/")[0]), k)):
        for b in ports[key] or []:
            sys.stdout.write(f"{key} -> {_addr(b)}\n")
    return 0


def _addr(binding: dict[str, str]) -> str:
    ip = binding.get("HostIp") or "0.0.0.0"
    return f"[{ip}]:{binding['HostPort']}" if ":" in ip else f"{ip}:{binding['HostPort']}"
