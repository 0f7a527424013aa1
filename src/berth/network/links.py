"""Bridges and veth pairs through netlink (pyroute2): the only module that talks rtnetlink.

A container endpoint is a veth pair: the host end is enslaved to the network's bridge, the
peer is moved into the container's namespace, renamed (eth0, eth1, ...) and given its MAC,
address and — for the first endpoint — the default route.
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pyroute2 import IPRoute, NetlinkError  # type: ignore[import-untyped]

from berth.errors import Internal

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
    tmp = "vc" + secrets.token_hex(5)
    fd = open(ep.netns, "rb")  # noqa: SIM115 — netlink needs the fd while moving the peer
    try:
        with IPRoute() as ipr:
            br = ipr.link_lookup(ifname=ep.bridge)
            if not br:
                raise Internal(f"bridge {ep.bridge} does not exist")
            ipr.link("add", ifname=host, kind="veth", peer=tmp)
            try:
                hidx = ipr.link_lookup(ifname=host)[0]
                ipr.link("set", index=hidx, master=br[0], state="up")
                pidx = ipr.link_lookup(ifname=tmp)[0]
                ipr.link("set", index=pidx, net_ns_fd=fd.fileno())
            except Exception:
                delete_link(host)
                raise
        cmds = [f"link set dev {tmp} name {ep.ifname} address {ep.mac}",
                f"addr add {ep.address} dev {ep.ifname}",
                f"link set dev {ep.ifname} up", "link set dev lo up"]
        if ep.gateway is not None:
            cmds.append(f"route replace default via {ep.gateway} dev {ep.ifname}")
        _ip_in(ep.netns, cmds)
    except (NetlinkError, Internal) as exc:
        delete_link(host)
        raise Internal(f"endpoint {ep.ifname} on {ep.bridge}: {exc}") from exc
    finally:
        fd.close()
    return host


def remove_endpoint_in_ns(netns: Path, ifname: str) -> None:
    """Delete a container-side interface (its host peer goes with it)."""
    _ip_in(netns, [f"link del dev {ifname}"])


def _ip_in(netns: Path, commands: list[str]) -> None:
    # Inside the container's namespace through nsenter + ip, not pyroute2's NetNS: NetNS
    # forks a helper out of berthd (an asyncio process with signal handlers), which proved
    # fragile; one short-lived ip process per plumbing step is simple and observable.
    proc = subprocess.run(["nsenter", f"--net={netns}", "ip", "-batch", "-"],
                          input="\n".join(commands) + "\n", capture_output=True, text=True)
    if proc.returncode != 0:
        raise Internal(f"configure network namespace {netns}: {proc.stderr.strip()}")
