"""``run``/``create`` flags for networking and storage that the docker CLI turns into create-body
fields: -p/-P/--expose, --dns*, --add-host, --mount, --volumes-from, and anonymous ``-v /path``
(the choice of networks is endpointflags.py's). Owns their parsing only (docker's rules and
messages).
"""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Callable
from typing import Any

from berth.cli.context import GoBool, UsageError
from berth.cli.humanize import parse_ram_bytes
from berth.errors import BerthError

__all__ = ["add_flags", "apply_flags", "parse_mount", "parse_publish"]


def add_flags(add: Callable[..., Any]) -> None:
    add("-p", "--publish", action="append", default=[])
    add("-P", "--publish-all", action=GoBool)
    add("--expose", action="append", default=[])
    add("--dns", action="append", default=[])
    add("--dns-search", action="append", default=[])
    add("--dns-option", action="append", default=[])
    add("--add-host", action="append", default=[])
    add("--mount", action="append", default=[])
    add("--volumes-from", action="append", default=[])


def _port_range(text: str, spec: str, what: str = "containerPort") -> list[int]:
    lo, _, hi = text.partition("-")
    try:
        a, b = int(lo), int(hi or lo)
    except ValueError:
        raise UsageError(f"invalid {what}: {text}") from None
    if not 0 <= a <= b < 65536:
        raise UsageError(f"invalid {what}: {text}")
    return list(range(a, b + 1))


def parse_publish(spec: str) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, str]]]]:
    """``[ip:][hostPort:]containerPort[/proto]`` (ranges allowed) -> (ExposedPorts, PortBindings)."""
    body, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        raise UsageError(f"invalid proto: {proto}")
    parts = body.rsplit(":", 2)
    ip, host = "", ""
    if len(parts) == 3:
        ip, host, ctr = parts
    elif len(parts) == 2:
        host, ctr = parts
    else:
        ctr = parts[0]
    ip = ip.strip("[]")
    ctr_ports = _port_range(ctr, spec)
    if host:
        host_ports = _port_range(host, spec, "hostPort")
        if len(host_ports) != len(ctr_ports) and len(ctr_ports) != 1:
            raise UsageError(f"invalid ranges specified for container and host Ports: {ctr} and {host}")
    exposed: dict[str, dict[str, Any]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for i, port in enumerate(ctr_ports):
        key = f"{port}/{proto}"
        exposed[key] = {}
        if not host:
            hp = ""
        elif len(ctr_ports) == 1:
            hp = host   # one container port, a range of host ports: any free one of them
        else:
            hp = str(host_ports[i])
        bindings.setdefault(key, []).append({"HostIp": ip, "HostPort": hp})
    return exposed, bindings


# --mount keys whose API fields berthd does not implement: refused, not dropped.
_MOUNT_KEYS_REFUSED = {
    "volume-driver": "berthd has only the local volume driver",
    "volume-opt": "berthd takes no volume driver options",
    "volume-subpath": "berthd mounts whole volumes",
    "bind-nonrecursive": "berthd's binds are recursive",
    "bind-recursive": "berthd's binds are recursive",
}


def parse_mount(spec: str) -> dict[str, Any]:
    """``type=bind|volume|tmpfs,source=..,target=..,readonly,...`` -> an API Mount."""
    out: dict[str, Any] = {"Type": "volume"}

    def invalid(why: str) -> UsageError:
        return UsageError(f"invalid argument \"{spec}\" for \"--mount\" flag: {why}")

    for field in spec.split(","):
        key, eq, value = field.partition("=")
        key = key.strip().lower()
        if key == "type":
            out["Type"] = value
        elif key in ("source", "src"):
            out["Source"] = value
        elif key in ("target", "destination", "dst"):
            out["Target"] = value
        elif key in ("readonly", "ro"):
            out["ReadOnly"] = not eq or value.lower() in ("1", "true")
        elif key == "bind-propagation":
            out.setdefault("BindOptions", {})["Propagation"] = value
        elif key == "volume-nocopy":
            out.setdefault("VolumeOptions", {})["NoCopy"] = not eq or value.lower() in ("1", "true")
        elif key == "tmpfs-size":
            try:
                out.setdefault("TmpfsOptions", {})["SizeBytes"] = parse_ram_bytes(value)
            except BerthError:
                raise invalid(f"invalid value for tmpfs-size: {value}") from None
        elif key == "tmpfs-mode":
            try:
                out.setdefault("TmpfsOptions", {})["Mode"] = int(value, 8)
            except ValueError:
                raise invalid(f"invalid value for tmpfs-mode: {value}") from None
        elif key in _MOUNT_KEYS_REFUSED:
            raise UsageError(f"berth does not support --mount {key}: {_MOUNT_KEYS_REFUSED[key]}")
        else:
            raise invalid(f"unexpected key '{key}' in '{field}'")
    if not out.get("Target"):
        raise invalid("target is required")
    return out


def _extra_host(spec: str) -> str:
    """``name:ip`` or ``name=ip`` (docker's ValidateExtraHost) -> ``name:ip``."""
    name, sep, ip = spec.partition("=")
    if not sep:
        name, sep, ip = spec.partition(":")
    if not sep or not name:
        raise UsageError(f'invalid argument "{spec}" for "--add-host" flag: '
                         f'bad format for add-host: "{spec}"')
    if ip.startswith("[") and ip.endswith("]"):
        ip = ip[1:-1]
    if ip != "host-gateway":
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise UsageError(f'invalid argument "{spec}" for "--add-host" flag: '
                             f'invalid IP address in add-host: "{ip}"') from None
    return f"{name}:{ip}"


def apply_flags(ns: argparse.Namespace, body: dict[str, Any]) -> None:
    """Fill the create body from the parsed flags (docker CLI's field placement)."""
    hc = body["HostConfig"]
    exposed: dict[str, Any] = dict(body.get("ExposedPorts") or {})
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in ns.publish:
        e, b = parse_publish(spec)
        exposed.update(e)
        for k, v in b.items():
            bindings.setdefault(k, []).extend(v)
    for spec in ns.expose:
        port, _, proto = spec.partition("/")
        for p in _port_range(port, spec):
            exposed[f"{p}/{proto or 'tcp'}"] = {}
    if exposed:
        body["ExposedPorts"] = exposed
    hc["PortBindings"] = bindings
    hc["PublishAllPorts"] = bool(ns.publish_all)
    hc["Dns"], hc["DnsSearch"], hc["DnsOptions"] = ns.dns, ns.dns_search, ns.dns_option
    hc["ExtraHosts"] = [_extra_host(h) for h in ns.add_host] or None
    if ns.mount:
        hc["Mounts"] = [parse_mount(m) for m in ns.mount]
    if ns.volumes_from:
        hc["VolumesFrom"] = ns.volumes_from
    # -v /path (one part) is an anonymous volume: Config.Volumes, not a bind.
    binds = hc.get("Binds") or []
    anon = [b for b in binds if ":" not in b]
    if anon:
        body["Volumes"] = {**(body.get("Volumes") or {}), **{a: {} for a in anon}}
        hc["Binds"] = [b for b in binds if ":" in b] or None
