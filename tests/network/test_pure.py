"""Pure parts of berth.network: IPAM, port planning, /etc files, the nftables script, DNS wire format."""

from __future__ import annotations

import ipaddress

import pytest

from berth import errors
from berth.network import etcfiles, ipam, nftables, ports, resolver


def test_ipam_subnets_and_addresses() -> None:
    pool = ipam.parse_pool("base=10.50.0.0/16,size=24")
    taken = [ipaddress.IPv4Network("10.50.0.0/24"), ipaddress.IPv4Network("10.50.1.0/25")]
    assert str(ipam.allocate_subnet([pool], taken)) == "10.50.2.0/24"
    sub = ipam.parse_subnet("10.50.2.0/24")
    assert str(sub.gateway) == "10.50.2.1"
    first = ipam.allocate_address(sub, [])
    assert str(first) == "10.50.2.2"
    assert str(ipam.allocate_address(sub, [first])) == "10.50.2.3"
    assert str(ipam.allocate_address(sub, [first], "10.50.2.77")) == "10.50.2.77"
    with pytest.raises(errors.Conflict):
        ipam.allocate_address(sub, [first], "10.50.2.2")
    with pytest.raises(errors.InvalidArgument):
        ipam.allocate_address(sub, [], "10.99.0.5")
    with pytest.raises(errors.InvalidArgument):
        ipam.parse_subnet("10.0.0.0/24", "10.0.1.1")
    bip = ipam.parse_bip("10.7.0.1/16")
    assert str(bip.network) == "10.7.0.0/16" and bip.gateway_cidr == "10.7.0.1/16"
    tiny = ipam.parse_subnet("10.9.9.0/30")
    used = [ipam.allocate_address(tiny, [])]
    with pytest.raises(errors.Unavailable):
        ipam.allocate_address(tiny, used)


def test_port_planning() -> None:
    free = lambda ip, port, proto: port != 32768  # noqa: E731 - a host process holds 32768
    cfg = {"ExposedPorts": {"80/tcp": {}, "53/udp": {}}}
    hc = {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                           "443/tcp": [{"HostIp": "", "HostPort": "9000-9002"}]},
          "PublishAllPorts": True}
    plan = ports.plan_ports(cfg, hc, [ports.PortMapping(443, "tcp", "0.0.0.0", 9000)], free)
    by = {(m.container_port, m.proto): m for m in plan}
    assert by[(80, "tcp")].host_port == 8080 and by[(80, "tcp")].host_ip == "127.0.0.1"
    assert by[(443, "tcp")].host_port == 9001        # 9000 is taken by another container
    assert by[(53, "udp")].host_port == 32769        # -P: ephemeral, 32768 held on the host
    with pytest.raises(errors.Unavailable, match="port is already allocated"):
        ports.plan_ports({}, {"PortBindings": {"80/tcp": [{"HostPort": "8080"}]}},
                         [ports.PortMapping(80, "tcp", "127.0.0.1", 8080)], free)
    with pytest.raises(errors.InvalidArgument):
        ports.plan_ports({}, {"PortBindings": {"80/xyz": [{}]}}, [], free)
    view = ports.ps_view(cfg, hc, plan)
    assert {"PrivatePort": 80, "PublicPort": 8080, "IP": "127.0.0.1", "Type": "tcp"} in view
    assert ports.port_view(cfg, {}, [])["80/tcp"] is None


def test_etc_files() -> None:
    hosts = etcfiles.hosts_file([etcfiles.parse_extra_host("db:10.1.2.3", "10.0.0.1"),
                                 etcfiles.parse_extra_host("gw:host-gateway", "10.0.0.1")],
                                [("10.0.0.5", "abc")])
    assert "10.1.2.3\tdb\n" in hosts and "10.0.0.1\tgw\n" in hosts and hosts.endswith("10.0.0.5\tabc\n")
    with pytest.raises(errors.InvalidArgument):
        etcfiles.parse_extra_host("db:nope", "")
    host = "nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp\noptions ndots:2\n"
    assert etcfiles.resolv_conf(host, [], [], [], None) == \
        "nameserver 10.0.0.2\nsearch corp\noptions ndots:2\n"
    assert etcfiles.resolv_conf(host, ["1.1.1.1"], ["x"], ["debug"], None) == \
        "nameserver 1.1.1.1\nsearch x\noptions debug\n"
    assert etcfiles.resolv_conf(host, [], [], [], "10.9.0.1").startswith("nameserver 10.9.0.1\n")
    assert etcfiles.resolv_conf("nameserver 127.0.0.1\n", [], [], [], None).startswith("nameserver 8.8.8.8")


def test_nftables_script() -> None:
    script = nftables.render("berth-x", nftables.Ruleset(
        [nftables.BridgeRule("b0", "10.1.0.0/24", False), nftables.BridgeRule("b1", "10.2.0.0/24", True)],
        [nftables.PortRule("127.0.0.1", 8080, "tcp", "10.1.0.2", 80),
         nftables.PortRule("", 5353, "udp", "10.1.0.2", 53)]))
    assert script.startswith("table ip berth-x {}\ndelete table ip berth-x\n")
    assert "ip daddr 127.0.0.1 tcp dport 8080 dnat to 10.1.0.2:80" in script
    assert "    udp dport 5353 dnat to 10.1.0.2:53" in script
    assert 'ip saddr 10.1.0.0/24 oifname != "b0" masquerade' in script
    assert 'ip saddr 10.2.0.0/24 oifname != "b1" masquerade' not in script   # internal
    assert 'iifname "b0" oifname "b1" drop' in script and 'iifname "b1" oifname "b0" drop' in script
    a, b = nftables.table_name(__import__("pathlib").Path("/a")), nftables.table_name(
        __import__("pathlib").Path("/b"))
    assert a != b and a.startswith("berth-")


def test_dns_wire_format() -> None:
    answers: list[bytes] = []
    r = resolver.Resolver("127.0.0.1", ipaddress.IPv4Network("127.0.0.0/8"),
                          lambda name, asker: [ipaddress.IPv4Address("10.0.0.7")] if name == "web" else [],
                          [], port=0)
    r._send = lambda data, addr: answers.append(data)  # type: ignore[method-assign]
    r.handle(resolver.build_query("web"), ("127.0.0.1", 5000))
    assert resolver.parse_answer_ips(answers[-1]) == ["10.0.0.7"]
    r.handle(resolver.build_query("nosuch"), ("127.0.0.1", 5000))
    assert answers[-1][3] & 0x0F == 3                       # NXDOMAIN
    r.handle(resolver.build_query("web"), ("192.168.9.9", 5000))
    assert answers[-1][3] & 0x0F == 5                       # REFUSED: not from this network
