"""``version``, ``info`` and the generic ``inspect``.

Owns their output shapes (docker's text layout, JSON with 4-space indent) and inspect's
container -> image lookup order. Must not change daemon state.
"""

from __future__ import annotations

import json
import platform
import sys
from typing import Any

from berth import __version__
from berth.cli.context import CLIContext, GoBool, make_parser
from berth.cli.template import parse_template
from berth.client.api import MAX_API_VERSION
from berth.errors import BerthError, NotFound

__all__ = ["cmd_info", "cmd_inspect", "cmd_version", "dump_inspect"]

CLIENT_VERSION = __version__


def dump_inspect(objects: list[Any]) -> str:
    """docker's inspect JSON: 4-space indent, HTML-safe escapes, Unicode kept."""
    text = json.dumps(objects, indent=4, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"


def cmd_inspect(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("inspect", "Return low-level information on objects")
    p.add_argument("-f", "--format")
    p.add_argument("-s", "--size", action=GoBool)
    p.add_argument("--type", choices=["container", "image"])
    p.add_argument("names", nargs="+")
    ns = p.parse_args(argv)
    template = parse_template(ns.format) if ns.format and ns.format != "json" else None
    found: list[Any] = []
    status = 0
    for name in ns.names:
        obj = None
        try:
            if ns.type in (None, "container"):
                try:
                    obj = ctx.client.inspect_container(name, size=ns.size)
                except NotFound:
                    obj = None
            if obj is None and ns.type in (None, "image"):
                try:
                    obj = ctx.client.inspect_image(name)
                except NotFound:
                    obj = None
        except BerthError as exc:
            ctx.fail(exc)
            status = 1
            continue
        if obj is None:
            kind = {"container": "container", "image": "image"}.get(ns.type or "", "object")
            ctx.error(f"Error: No such {kind}: {name}")
            status = 1
            continue
        if template is not None:
            sys.stdout.write(template.render(obj) + "\n")
        else:
            found.append(obj)
    if template is None:
        sys.stdout.write(dump_inspect(found))
    return status


def _client_arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def cmd_version(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("version", "Show the berth version information")
    p.add_argument("-f", "--format")
    ns = p.parse_args(argv)
    client_info = {"Version": CLIENT_VERSION, "ApiVersion": MAX_API_VERSION,
                   "DefaultAPIVersion": MAX_API_VERSION, "GoVersion": platform.python_version(),
                   "Os": "linux", "Arch": _client_arch(), "Context": "default"}
    server: dict[str, Any] | None = None
    error: BerthError | None = None
    try:
        server = ctx.client.system_version()
        client_info["ApiVersion"] = ctx.client.version
    except BerthError as exc:
        error = exc
    if ns.format:
        sys.stdout.write(parse_template(ns.format).render({"Client": client_info,
                                                           "Server": server}) + "\n")
    else:
        api = client_info["ApiVersion"]
        note = f" (downgraded from {MAX_API_VERSION})" if api != MAX_API_VERSION else ""
        lines = ["Client:", f" Version:           {CLIENT_VERSION}",
                 f" API version:       {api}{note}",
                 f" Python version:    {platform.python_version()}",
                 f" OS/Arch:           linux/{_client_arch()}", " Context:           default"]
        if server is not None:
            lines += ["", f"Server: {(server.get('Platform') or {}).get('Name', '')}".rstrip(),
                      " Engine:",
                      f"  Version:          {server.get('Version', '')}",
                      f"  API version:      {server.get('ApiVersion', '')} "
                      f"(minimum version {server.get('MinAPIVersion', '')})",
                      f"  Go version:       {server.get('GoVersion', '')}",
                      f"  Git commit:       {server.get('GitCommit', '')}",
                      f"  Built:            {server.get('BuildTime', '')}",
                      f"  OS/Arch:          {server.get('Os', '')}/{server.get('Arch', '')}",
                      f"  Experimental:     {str(server.get('Experimental', False)).lower()}"]
            for comp in server.get("Components") or []:
                if comp.get("Name") == "Engine":
                    continue
                lines += [f" {comp.get('Name')}:", f"  Version:          {comp.get('Version', '')}"]
        sys.stdout.write("\n".join(lines) + "\n")
    if error is not None:
        ctx.fail(error)
        return 1
    return 0


def cmd_info(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("info", "Display system-wide information")
    p.add_argument("-f", "--format")
    ns = p.parse_args(argv)
    try:
        info = ctx.client.info()
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    if ns.format:
        if ns.format == "json":
            sys.stdout.write(json.dumps(info, separators=(",", ":")) + "\n")
        else:
            sys.stdout.write(parse_template(ns.format).render(info) + "\n")
        return 0
    g = info.get
    lines = [
        "Client:", " Version:    " + CLIENT_VERSION, " Context:    default", "",
        "Server:",
        f" Containers: {g('Containers', 0)}",
        f"  Running: {g('ContainersRunning', 0)}",
        f"  Paused: {g('ContainersPaused', 0)}",
        f"  Stopped: {g('ContainersStopped', 0)}",
        f" Images: {g('Images', 0)}",
        f" Server Version: {g('ServerVersion', '')}",
        f" Storage Driver: {g('Driver', '')}",
        *[f"  {k}: {v}" for k, v in (g("DriverStatus") or [])],
        f" Logging Driver: {g('LoggingDriver', '')}",
        f" Cgroup Driver: {g('CgroupDriver', '')}",
        f" Cgroup Version: {g('CgroupVersion', '')}",
        f" Runtimes: {' '.join(sorted(g('Runtimes') or {}))}",
        f" Default Runtime: {g('DefaultRuntime', '')}",
        f" Init Binary: {g('InitBinary', '')}",
        f" Kernel Version: {g('KernelVersion', '')}",
        f" Operating System: {g('OperatingSystem', '')}",
        f" OSType: {g('OSType', '')}",
        f" Architecture: {g('Architecture', '')}",
        f" CPUs: {g('NCPU', 0)}",
        f" Total Memory: {_binary_size(int(g('MemTotal', 0) or 0))}",
        f" Name: {g('Name', '')}",
        f" ID: {g('ID', '')}",
        f" Docker Root Dir: {g('DockerRootDir', '')}",
        f" Debug Mode: {str(g('Debug', False)).lower()}",
        f" Experimental: {str(g('ExperimentalBuild', False)).lower()}",
        f" Live Restore Enabled: {str(g('LiveRestoreEnabled', False)).lower()}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    for warning in g("Warnings") or []:
        sys.stderr.write(f"{warning}\n")
    return 0


def _binary_size(n: int) -> str:
    """go-units BytesSize: ``7.6GiB``."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    value = float(n)
    i = 0
    while value >= 1024 and i < len(units) - 1:
        value /= 1024
        i += 1
    return f"{value:.4g}{units[i]}"

