"""Published ports: Docker's PortBindings/ExposedPorts/PublishAllPorts -> concrete mappings.

Pure apart from :func:`probe`, which asks the kernel whether a host port is free. Ephemeral
host ports come from Docker's range (32768-60999) like dockerd's port allocator.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from berth.errors import InvalidArgument, Unavailable

__all__ = ["EPHEMERAL", "PortMapping", "exposed_ports", "plan_ports", "port_key", "port_view", "probe",
           "ps_view"]

EPHEMERAL = range(32768, 61000)


@dataclass(frozen=True)
class PortMapping:
    container_port: int
    proto: str
    host_ip: str
    host_port: int


def port_key(key: str) -> tuple[int, str]:
    """``80``, ``80/udp`` -> (80, "udp"); InvalidArgument for what no mapping can hold."""
    port, _, proto = key.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        raise InvalidArgument(f"invalid proto: {proto}")
    try:
        n = int(port)
    except ValueError:
        raise InvalidArgument(f"invalid port specification: {key!r}") from None
    if not 0 < n < 65536:
        raise InvalidArgument(f"invalid port specification: {key!r}")
    return n, proto


def exposed_ports(config: Mapping[str, Any], host_config: Mapping[str, Any]) -> list[tuple[int, str]]:
    keys = set((config.get("ExposedPorts") or {}).keys())
    keys |= set((host_config.get("PortBindings") or {}).keys())
    return sorted({port_key(k) for k in keys})


def probe(host_ip: str, port: int, proto: str) -> bool:
    """True when nothing on the host holds ``host_ip:port``."""
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((host_ip or "0.0.0.0", port))
        except OSError:
            return False
    return True


def _conflicts(m: PortMapping, taken: Iterable[PortMapping]) -> bool:
    for t in taken:
        if t.host_port == m.host_port and t.proto == m.proto and (
                t.host_ip in ("", "0.0.0.0") or m.host_ip in ("", "0.0.0.0") or t.host_ip == m.host_ip):
            return True
    return False


def plan_ports(config: Mapping[str, Any], host_config: Mapping[str, Any],
               taken: Iterable[PortMapping],
               is_free: Callable[[str, int, str], bool] = probe) -> list[PortMapping]:
    """The mappings for one container start; raises Unavailable for a taken host port."""
    used = list(taken)
    out: list[PortMapping] = []
    bindings: Mapping[str, Any] = host_config.get("PortBindings") or {}
    requests: list[tuple[int, str, str, str]] = []
    for key, items in bindings.items():
        port, proto = port_key(key)
        for b in items or [{}]:
            requests.append((port, proto, str((b or {}).get("HostIp") or ""),
                             str((b or {}).get("HostPort") or "")))
    if host_config.get("PublishAllPorts"):
        bound = {(p, pr) for p, pr, _, _ in requests}
        requests += [(p, pr, "", "") for p, pr in exposed_ports(config, {}) if (p, pr) not in bound]
    for port, proto, host_ip, host_port in requests:
        if host_port:
            lo, _, hi = host_port.partition("-")
            try:
                candidates = range(int(lo), int(hi or lo) + 1)
            except ValueError:
                raise InvalidArgument(f"invalid host port: {host_port!r}") from None
            if not candidates or candidates.start < 1 or candidates.stop > 65536:
                raise InvalidArgument(f"invalid host port: {host_port!r}")
        else:
            candidates = EPHEMERAL
        chosen = None
        for hp in candidates:
            m = PortMapping(port, proto, host_ip, hp)
            if not _conflicts(m, used) and is_free(host_ip, hp, proto):
                chosen = m
                break
        if chosen is None:
            shown = host_ip or "0.0.0.0"
            raise Unavailable(f"Bind for {shown}:{host_port or 'ephemeral'} failed: port is already "
                              "allocated")
        used.append(chosen)
        out.append(chosen)
    return out


def port_view(config: Mapping[str, Any], host_config: Mapping[str, Any],
              mappings: Iterable[PortMapping]) -> dict[str, Any]:
    """inspect's NetworkSettings.Ports: every exposed port, with its host bindings or null."""
    out: dict[str, Any] = {f"{p}/{proto}": None for p, proto in exposed_ports(config, host_config)}
    for m in mappings:
        key = f"{m.container_port}/{m.proto}"
        entries = out.get(key) or []
        if m.host_ip in ("", "0.0.0.0"):
            entries.append({"HostIp": "0.0.0.0", "HostPort": str(m.host_port)})
            entries.append({"HostIp": "::", "HostPort": str(m.host_port)})
        else:
            entries.append({"HostIp": m.host_ip, "HostPort": str(m.host_port)})
        out[key] = entries
    return out


def ps_view(config: Mapping[str, Any], host_config: Mapping[str, Any],
            mappings: Iterable[PortMapping]) -> list[dict[str, Any]]:
    """``ps``'s Ports list: [{IP, PrivatePort, PublicPort, Type}] (unpublished: no IP/PublicPort)."""
    out: list[dict[str, Any]] = []
    for key, entries in port_view(config, host_config, mappings).items():
        port, proto = port_key(key)
        if not entries:
            out.append({"PrivatePort": port, "Type": proto})
        for e in entries or []:
            out.append({"IP": e["HostIp"], "PrivatePort": port, "PublicPort": int(e["HostPort"]),
                        "Type": proto})
    return out

