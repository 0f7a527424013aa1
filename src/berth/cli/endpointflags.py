"""``run``/``create`` flags choosing the container's networks: --network/--net (repeatable,
``NAME`` or ``name=NAME,alias=A,ip=IP,mac-address=MAC``), and the legacy --ip,
--network-alias and --mac-address, which apply to the first network.

Owns HostConfig.NetworkMode (the first network) and NetworkingConfig.EndpointsConfig (one
endpoint per network, as the docker CLI sends since API 1.44) with the docker CLI's checks
and messages. Per-network fields berthd does not implement (ip6, link-local-ip, gw-priority,
driver-opt) are refused.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Final

from berth.cli.context import UsageError

__all__ = ["add_flags", "apply_flags"]

_NOT_USER_DEFINED: Final = ("default", "bridge", "host", "none")
_REFUSED_KEYS: Final = {
    "ip6": "berthd's networks are IPv4 only",
    "link-local-ip": "berthd assigns no link-local addresses",
    "gw-priority": "berthd picks the gateway of the first network",
    "driver-opt": "berthd's bridge endpoints take no driver options",
}


def add_flags(add: Callable[..., Any]) -> None:
    add("--network", "--net", action="append", default=[])
    add("--ip")
    add("--mac-address")
    add("--network-alias", action="append", default=[])


def _user_defined(name: str) -> bool:
    return name not in _NOT_USER_DEFINED and not name.startswith("container:")


def _parse_network(spec: str) -> tuple[str, dict[str, Any]]:
    """One --network value -> (name, endpoint settings)."""
    if "=" not in spec:
        return spec, {}
    name = ""
    endpoint: dict[str, Any] = {}
    for field in spec.split(","):
        key, sep, value = field.partition("=")
        key = key.strip().lower()
        if not sep:
            raise UsageError(f'invalid argument "{spec}" for "--network" flag: invalid field {field}')
        if key == "name":
            name = value
        elif key == "alias":
            endpoint.setdefault("Aliases", []).append(value)
        elif key == "ip":
            endpoint["IPAMConfig"] = {"IPv4Address": value}
        elif key == "mac-address":
            endpoint["MacAddress"] = value
        elif key in _REFUSED_KEYS:
            raise UsageError(f"berth does not support --network {key}: {_REFUSED_KEYS[key]}")
        else:
            raise UsageError(f'invalid argument "{spec}" for "--network" flag: invalid field key {key}')
    if not name:
        raise UsageError(f'invalid argument "{spec}" for "--network" flag: '
                         "network name/id is not specified")
    return name, endpoint


def _apply_legacy(ns: argparse.Namespace, name: str, endpoint: dict[str, Any]) -> None:
    """--network-alias, --ip, --mac-address: settings of the first network."""
    if ns.network_alias:
        if endpoint.get("Aliases"):
            raise UsageError("conflicting options: cannot specify both --network-alias and "
                             "per-network alias")
        if not _user_defined(name):
            raise UsageError("network-scoped aliases are only supported for user-defined networks")
        endpoint["Aliases"] = list(ns.network_alias)
    if ns.ip:
        if (endpoint.get("IPAMConfig") or {}).get("IPv4Address"):
            raise UsageError("conflicting options: cannot specify both --ip and per-network "
                             "IPv4 address")
        endpoint["IPAMConfig"] = {"IPv4Address": ns.ip}
    if ns.mac_address:
        if endpoint.get("MacAddress"):
            raise UsageError("conflicting options: cannot specify both --mac-address and "
                             "per-network MAC address")
        endpoint["MacAddress"] = ns.mac_address


def apply_flags(ns: argparse.Namespace, body: dict[str, Any]) -> None:
    networks = [_parse_network(s) for s in ns.network] or [("default", {})]
    names = [n for n, _ in networks]
    for n in names:
        if names.count(n) > 1:
            raise UsageError(f'network "{n}" is specified multiple times')
    if len(names) > 1 and not all(_user_defined(n) for n in names):
        raise UsageError("conflicting options: cannot attach both user-defined and "
                         "non-user-defined network-modes")
    _apply_legacy(ns, *networks[0])
    body["HostConfig"]["NetworkMode"] = names[0]
    # As the docker CLI: a named non-user-defined network (bridge, host, none, container:)
    # gets an endpoint entry only when it has settings; no --network at all gets "default".
    body["NetworkingConfig"] = {"EndpointsConfig": {
        n: ep for n, ep in networks if ep or _user_defined(n) or not ns.network}}
