"""IP address management for one network, pure: pick subnets and addresses given what is taken.

Persistence is the network service's job (endpoints are rows in berth.db); this module only
decides. Conventions follow Docker: the gateway is the first host address of the subnet unless
given, the network and broadcast addresses are never handed out, and a requested address must
lie in the subnet and be free.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from berth.errors import Conflict, InvalidArgument, Unavailable

__all__ = [
    "AddressPool",
    "Subnet",
    "allocate_address",
    "allocate_subnet",
    "check_requested",
    "parse_bip",
    "parse_pool",
    "parse_subnet",
]


@dataclass(frozen=True)
class Subnet:
    """A network's IPv4 subnet and its gateway (the bridge's own address)."""

    network: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address

    @property
    def gateway_cidr(self) -> str:
        return f"{self.gateway}/{self.network.prefixlen}"


@dataclass(frozen=True)
class AddressPool:
    """``--default-address-pool base=CIDR,size=N``: subnets of /size carved out of base."""

    base: ipaddress.IPv4Network
    size: int


def parse_subnet(subnet: str, gateway: str = "") -> Subnet:
    try:
        net = ipaddress.IPv4Network(subnet, strict=False)
    except ValueError:
        raise InvalidArgument(f"invalid subnet {subnet!r}") from None
    if net.prefixlen > 30:
        raise InvalidArgument(f"subnet {subnet} is too small")
    if gateway:
        try:
            gw = ipaddress.IPv4Address(gateway)
        except ValueError:
            raise InvalidArgument(f"invalid gateway address {gateway!r}") from None
        if gw not in net or gw in (net.network_address, net.broadcast_address):
            raise InvalidArgument(f"no matching subnet for gateway {gateway}")
    else:
        gw = net.network_address + 1
    return Subnet(net, gw)


def parse_bip(bip: str) -> Subnet:
    """``--bip 10.1.0.1/24``: the bridge address with its prefix."""
    try:
        iface = ipaddress.IPv4Interface(bip)
    except ValueError:
        raise InvalidArgument(f"invalid --bip {bip!r}") from None
    return parse_subnet(str(iface.network), str(iface.ip))


def parse_pool(text: str) -> AddressPool:
    fields = dict(part.partition("=")[::2] for part in text.split(","))
    try:
        base = ipaddress.IPv4Network(fields["base"], strict=False)
        size = int(fields.get("size") or 24)
    except (KeyError, ValueError):
        raise InvalidArgument(f"invalid --default-address-pool {text!r}: want base=CIDR,size=N") from None
    if size < base.prefixlen or size > 30:
        raise InvalidArgument(f"invalid --default-address-pool {text!r}: size out of range")
    return AddressPool(base, size)


def allocate_subnet(pools: Iterable[AddressPool],
                    taken: Iterable[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """The first subnet from ``pools`` overlapping none of ``taken``."""
    used = list(taken)
    for pool in pools:
        for candidate in pool.base.subnets(new_prefix=pool.size):
            if not any(candidate.overlaps(t) for t in used):
                return candidate
    raise Unavailable("could not find an available, non-overlapping IPv4 address pool among the "
                      "defaults to assign to the network")


def check_requested(subnet: Subnet, requested: str) -> ipaddress.IPv4Address:
    """``requested`` parsed and inside ``subnet`` as a host address (whether free is a start's
    business)."""
    try:
        want = ipaddress.IPv4Address(requested)
    except ValueError:
        raise InvalidArgument(f"invalid IPv4 address: {requested}") from None
    if want not in subnet.network or want in (subnet.network.network_address,
                                              subnet.network.broadcast_address):
        raise InvalidArgument(f"Invalid address {requested}: It does not belong to any of this "
                              f"network's subnets")
    return want


def allocate_address(subnet: Subnet, taken: Iterable[ipaddress.IPv4Address],
                     requested: str = "") -> ipaddress.IPv4Address:
    """A free host address of ``subnet`` (``requested`` if given and free)."""
    used = {*taken, subnet.gateway}
    if requested:
        want = check_requested(subnet, requested)
        if want in used:
            raise Conflict(f"Address already in use: {requested}")
        return want
    for host in subnet.network.hosts():
        if host not in used:
            return host
    raise Unavailable(f"no available IPv4 addresses on network {subnet.network}")
