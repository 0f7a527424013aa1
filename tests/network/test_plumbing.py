"""berth.network.netns, links and rtnl against the kernel: a pinned namespace, a veth whose
peer is born inside it and configured over netlink from a thread in it, and the cleanup."""

from __future__ import annotations

import ipaddress
import os
import secrets
import subprocess
from pathlib import Path

import pytest

from berth import errors
from berth.network import links, netns

pytestmark = pytest.mark.root


def _in_ns(path: Path, *args: str) -> str:
    return subprocess.run(["nsenter", f"--net={path}", *args], capture_output=True, text=True,
                          check=True).stdout


def test_endpoint_in_a_pinned_namespace(tmp_path: Path) -> None:
    bridge = "pt" + secrets.token_hex(4)
    path = tmp_path / "ns"
    own_ns = os.readlink("/proc/thread-self/ns/net")
    links.ensure_bridge(bridge, "10.251.77.1/24")
    try:
        netns.create(path)
        assert netns.is_mounted(path)
        assert os.readlink("/proc/thread-self/ns/net") == own_ns  # the caller never switched
        host = links.add_endpoint(links.EndpointLink(
            bridge, path, "eth0", ipaddress.IPv4Interface("10.251.77.2/24"), "02:42:0a:fb:4d:02",
            ipaddress.IPv4Address("10.251.77.1")))
        eth0 = _in_ns(path, "ip", "-4", "addr", "show", "eth0")
        assert "inet 10.251.77.2/24 brd 10.251.77.255" in eth0 and "state UP" in eth0
        assert "link/ether 02:42:0a:fb:4d:02" in _in_ns(path, "ip", "link", "show", "eth0")
        assert "LOOPBACK,UP" in _in_ns(path, "ip", "link", "show", "lo")
        route = _in_ns(path, "ip", "-4", "route", "show", "default")
        assert route.startswith("default via 10.251.77.1 dev eth0")
        master = subprocess.run(["ip", "-o", "link", "show", host], capture_output=True, text=True).stdout
        assert f"master {bridge}" in master and ",UP" in master
        with pytest.raises(errors.Internal, match="File exists"):  # eth0 is taken: nothing left behind
            links.add_endpoint(links.EndpointLink(bridge, path, "eth0",
                                                  ipaddress.IPv4Interface("10.251.77.3/24"),
                                                  "02:42:0a:fb:4d:03", None))
        ports = subprocess.run(["ip", "-o", "link", "show", "master", bridge], capture_output=True,
                               text=True).stdout.splitlines()
        assert len(ports) == 1
        with pytest.raises(errors.Internal, match="does not exist"):
            links.add_endpoint(links.EndpointLink("nosuchbr0", path, "eth1",
                                                  ipaddress.IPv4Interface("10.251.77.4/24"),
                                                  "02:42:0a:fb:4d:04", None))
        links.remove_endpoint_in_ns(path, "eth0")
        assert "eth0" not in _in_ns(path, "ip", "link")
        assert not links.link_exists(host)
    finally:
        netns.remove(path)
        links.delete_link(bridge)
    assert not path.exists() and not netns.is_mounted(path)
