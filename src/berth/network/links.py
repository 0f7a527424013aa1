"""Bridges and veth pairs through netlink (pyroute2): the only module that talks rtnetlink.

A container endpoint is a veth pair: the host end is enslaved to the network's bridge, the
peer is moved into the container's namespace, renamed (eth0, eth1, ...) and given its MAC,
address and — for the first endpoint — the default route.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from pyroute2 import IPRoute, NetlinkError  # type: ignore[import-untyped]

from berth.errors import Internal
from berth.network import netns, rtnl

__all__ = ["EndpointLink", "add_endpoint", "delete_link", "ensure_bridge", "host_networks",
           "link_exists", "overlapping", "remove_endpoint_in_ns"]


@dataclass(frozen=True)
class EndpointLink:
    """What to plumb for one endpoint."""

    bridge: str
    netns: Path
    ifname: str                     # inside the container: eth0, eth1...
    address: ipaddress.IPv4Interface
    mac: str
    gateway: ipaddress.IPv4Address | None   # default route via this, when set


def _sysctl(path: str, value: str) -> None:
    with contextlib.suppress(OSError), open(path, "w") as f:
        f.write(value)


def link_exists(name: str) -> bool:
    with IPRoute() as ipr:
        return bool(ipr.link_lookup(ifname=name))


def ensure_bridge(name: str, gateway_cidr: str) -> None:
    """Create (or repair) the bridge with exactly its gateway address, up."""
    with IPRoute() as ipr:
        try:
            idx = ipr.link_lookup(ifname=name)
            if not idx:
                ipr.link("add", ifname=name, kind="bridge")
                idx = ipr.link_lookup(ifname=name)
            index = idx[0]
            iface = ipaddress.IPv4Interface(gateway_cidr)
            have = {(a.get_attr("IFA_ADDRESS"), a["prefixlen"])
                    for a in ipr.get_addr(index=index, family=2)}
            if (str(iface.ip), iface.network.prefixlen) not in have:
                ipr.addr("add", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen)
            ipr.link("set", index=index, state="up")
        except NetlinkError as exc:
            raise Internal(f"bridge {name}: {exc}") from exc
    # Loopback clients of published ports are DNATed to the bridge: the kernel must route
    # 127/8 sources out of it (then they are masqueraded).
    _sysctl(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1")
    _sysctl("/proc/sys/net/ipv4/ip_forward", "1")


def delete_link(name: str) -> None:
    with IPRoute() as ipr:
        idx = ipr.link_lookup(ifname=name)
        if idx:
            with contextlib.suppress(NetlinkError):
                ipr.link("del", index=idx[0])


def host_networks() -> list[ipaddress.IPv4Network]:
    """Subnets of the host's IPv4 addresses (a new network must not overlap them)."""
    with IPRoute() as ipr:
        return [ipaddress.IPv4Network(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}", strict=False)
                for a in ipr.get_addr(family=2)]


def overlapping(subnet: ipaddress.IPv4Network, own: str) -> list[str]:
    """Interfaces other than ``own`` holding an address inside ``subnet``."""
    out = []
    with IPRoute() as ipr:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        for a in ipr.get_addr(family=2):
            net = ipaddress.IPv4Network(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}", strict=False)
            name = names.get(a["index"], "?")
            if name != own and net.overlaps(subnet):
                out.append(str(name))
    return out


def add_endpoint(ep: EndpointLink) -> str:
    """Create the veth pair and configure the container side; returns the host-side name."""
    host = "vb" + secrets.token_hex(5)
    fd = os.open(ep.netns, os.O_RDONLY | os.O_CLOEXEC)
    created = False
    try:
        with rtnl.RtnlSocket() as nl:
            try:
                bridge = nl.link_index(ep.bridge)
            except OSError:
                raise Internal(f"bridge {ep.bridge} does not exist") from None
            # One message: the host end enslaved and up, the peer born in the container's
            # namespace with its final name and MAC (moving a link between namespaces
            # afterwards costs ~20 ms of kernel time).
            nl.add_veth(host, bridge, ep.ifname, ep.mac, fd)
            created = True
        netns.run_in(ep.netns, lambda: _configure_peer(ep))
    except (OSError, Internal) as exc:
        if created:
            delete_link(host)
        raise Internal(f"endpoint {ep.ifname} on {ep.bridge}: {exc}") from exc
    finally:
        os.close(fd)
    return host


def _configure_peer(ep: EndpointLink) -> None:
    # Runs on a thread inside the container's namespace: this socket talks to that netns.
    with rtnl.RtnlSocket() as nl:
        index = nl.link_index(ep.ifname)
        nl.add_address(index, ep.address)
        nl.set_up(index)
        nl.set_up(1)  # lo: index 1 in every network namespace
        if ep.gateway is not None:
            nl.replace_default_route(ep.gateway, index)


def remove_endpoint_in_ns(path: Path, ifname: str) -> None:
    """Delete a container-side interface (its host peer goes with it)."""

    def delete() -> None:
        with IPRoute() as ipr:
            ipr.link("del", ifname=ifname)

    try:
        netns.run_in(path, delete)
    except NetlinkError as exc:
        raise Internal(f"configure network namespace {path}: {exc}") from exc
