"""Network and port commands: ``network create|ls|inspect|rm|prune|connect|disconnect`` and ``port``.

Owns their flags, calls and output (docker's formats). Talks to the daemon only through the
client's generic ``request``; must not parse run flags.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from berth.cli.context import CLIContext, UsageError, make_parser
from berth.cli.formatting import render
from berth.client.api import encode_filters
from berth.errors import BerthError

__all__ = ["cmd_network", "cmd_port"]

_HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE"}
_LS_DEFAULT = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"


def _filters(items: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError("bad format of filter (expected name=value)")
        out.setdefault(key.strip().lower(), []).append(value)
    return out


def _kv(items: list[str]) -> dict[str, str]:
    return {k: v for k, _, v in (i.partition("=") for i in items)}


def cmd_network(ctx: CLIContext, argv: list[str]) -> int:
    if not argv:
        raise UsageError("\"berth network\" requires a subcommand: create, connect, disconnect, "
                         "inspect, ls, prune, rm")
    sub, rest = argv[0], argv[1:]
    handlers = {"create": _create, "ls": _ls, "list": _ls, "inspect": _inspect, "rm": _rm,
                "remove": _rm, "prune": _prune, "connect": _connect, "disconnect": _disconnect}
    if sub not in handlers:
        raise UsageError(f"unknown network command: {sub!r}")
    try:
        return handlers[sub](ctx, rest)
    except BerthError as exc:
        ctx.fail(exc)
        return 1


def _create(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("network create", "Create a network")
    p.add_argument("-d", "--driver", default="bridge")
    p.add_argument("--subnet", action="append", default=[])
    p.add_argument("--gateway", action="append", default=[])
    p.add_argument("--ip-range", action="append", default=[])
    p.add_argument("--internal", action="store_true")
    p.add_argument("--attachable", action="store_true")
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


def _ls(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("network ls", "List networks")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format")
    ns = p.parse_args(argv)
    query = {}
    enc = encode_filters(_filters(ns.filter))
    if enc:
        query["filters"] = enc
    items: list[dict[str, Any]] = ctx.client.request("GET", "/networks", query=query).json()
    items.sort(key=lambda n: n["Name"])
    rows = [{"ID": n["Id"] if ns.no_trunc else n["Id"][:12], "Name": n["Name"], "Driver": n["Driver"],
             "Scope": n["Scope"], "Internal": n["Internal"],
             "Labels": ",".join(f"{k}={v}" for k, v in (n.get("Labels") or {}).items())} for n in items]
    if ns.quiet:
        sys.stdout.write("".join(r["ID"] + "\n" for r in rows))
        return 0
    fmt = ns.format or _LS_DEFAULT
    sys.stdout.write(render(_LS_DEFAULT if fmt == "table" else fmt, rows, _HEADERS))
    return 0


def _inspect(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("network inspect", "Display detailed information on one or more networks")
    p.add_argument("-f", "--format")
    p.add_argument("names", nargs="+")
    ns = p.parse_args(argv)
    found, rc = [], 0
    for name in ns.names:
        try:
            found.append(ctx.client.request("GET", f"/networks/{name}").json())
        except BerthError as exc:
            ctx.fail(exc)
            rc = 1
    if ns.format:
        sys.stdout.write(render(ns.format, found, {}))
    else:
        sys.stdout.write(json.dumps(found, indent=4) + "\n")
    return rc


def _rm(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("network rm", "Remove one or more networks")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("names", nargs="+")
    ns = p.parse_args(argv)
    rc = 0
    for name in ns.names:
        try:
            ctx.client.request("DELETE", f"/networks/{name}").read()
            sys.stdout.write(name + "\n")
        except BerthError as exc:
            if not ns.force:
                ctx.fail(exc)
                rc = 1
    return rc


def _prune(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("network prune", "Remove all unused networks")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--filter", action="append", default=[])
    ns = p.parse_args(argv)
    if not ns.force:
        raise UsageError("network prune needs --force when not interactive")
    query = {}
    enc = encode_filters(_filters(ns.filter))
    if enc:
        query["filters"] = enc
    out = ctx.client.request("POST", "/networks/prune", query=query).json()
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
    p.add_argument("-f", "--force", action="store_true")
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
