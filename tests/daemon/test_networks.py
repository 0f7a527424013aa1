"""Networking driven by the real docker CLI: published ports reached from the host, user
networks with DNS between containers, isolation, connect/disconnect, rule cleanup."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from pathlib import Path

import docker
import pytest

from berth.network.nftables import table_name
from tests.conftest import Daemon
from tests.daemon.helpers import ok

pytestmark = pytest.mark.root


def _name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def _rules(daemon: Daemon) -> str:
    r = subprocess.run(["nft", "list", "table", "ip", table_name(daemon.data_root)],
                       capture_output=True, text=True)
    return r.stdout


def _httpd(daemon: Daemon, name: str, *args: str) -> None:
    ok(daemon.docker("run", "-d", "--name", name, *args, "busybox", "sh", "-c",
                     "mkdir -p /www && echo hello-$(hostname) > /www/index.html && "
                     "exec httpd -f -p 80 -h /www"))


def _curl(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-s", "--max-time", "3", url], capture_output=True, text=True)


def test_published_port_from_host_loopback_and_cleanup(daemon: Daemon) -> None:
    name = _name()
    try:
        _httpd(daemon, name, "-p", "127.0.0.1::80")
        ports = ok(daemon.docker("port", name, "80"))
        host_port = int(ports.strip().rsplit(":", 1)[1])
        deadline = time.monotonic() + 10
        while True:
            r = _curl(f"http://127.0.0.1:{host_port}/")
            if r.returncode == 0 and r.stdout.startswith("hello-"):
                break
            assert time.monotonic() < deadline, r
            time.sleep(0.2)
        assert f"dport {host_port} " in _rules(daemon)
        ps = ok(daemon.docker("ps", "--filter", f"name={name}", "--format", "{{.Ports}}"))
        assert f"127.0.0.1:{host_port}->80/tcp" in ps
        insp = json.loads(ok(daemon.docker("inspect", name)))[0]
        assert insp["NetworkSettings"]["Ports"]["80/tcp"] == [{"HostIp": "127.0.0.1",
                                                               "HostPort": str(host_port)}]
        assert insp["NetworkSettings"]["IPAddress"]
    finally:
        daemon.docker("rm", "-f", name)
    assert f"dport {host_port} " not in _rules(daemon)
    assert _curl(f"http://127.0.0.1:{host_port}/").returncode != 0
    assert not (daemon.exec_root / "netns" / insp["Id"]).exists()


def test_port_conflict_is_a_clear_error(daemon: Daemon) -> None:
    a, b = _name(), _name()
    try:
        _httpd(daemon, a, "-p", "127.0.0.1::80")
        port = ok(daemon.docker("port", a, "80")).strip().rsplit(":", 1)[1]
        r = daemon.docker("run", "-d", "--name", b, "-p", f"127.0.0.1:{port}:80", "busybox", "true")
        assert r.returncode == 125
        assert b"port is already allocated" in r.stderr
    finally:
        daemon.docker("rm", "-f", a, b)


def test_user_network_dns_http_and_isolation(daemon: Daemon) -> None:
    net, other = _name(), _name()
    web, client, outsider = _name(), _name(), _name()
    try:
        ok(daemon.docker("network", "create", net))
        ok(daemon.docker("network", "create", other))
        _httpd(daemon, web, "--network", net, "--network-alias", "www")
        script = ("for i in 1 2 3 4 5 6 7 8 9 10; do nslookup {h} >/dev/null 2>&1 && break; sleep 0.3; done; "
                  "nslookup {h}; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {h} 80")
        r = daemon.docker("run", "--rm", "--name", client, "--network", net, "busybox", "sh", "-c",
                          script.format(h=web))
        out = ok(r)
        assert "hello-" in out, out
        r = daemon.docker("run", "--rm", "--network", net, "busybox", "sh", "-c", script.format(h="www"))
        assert "hello-" in ok(r)
        insp = json.loads(ok(daemon.docker("inspect", web)))[0]
        ip = insp["NetworkSettings"]["Networks"][net]["IPAddress"]
        # Another network neither resolves the name nor reaches the address.
        r = daemon.docker("run", "--rm", "--name", outsider, "--network", other, "busybox", "sh", "-c",
                          f"nslookup {web}; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {ip} 80")
        assert "hello-" not in r.stdout.decode()
        assert ip not in r.stdout.decode().split("Name:")[-1]
        insp = json.loads(ok(daemon.docker("network", "inspect", net)))[0]
        assert insp["Name"] == net and insp["Driver"] == "bridge"
        assert any(c["Name"] == web for c in insp["Containers"].values())
        r = daemon.docker("network", "rm", net)
        assert r.returncode != 0 and b"active endpoints" in r.stderr
    finally:
        daemon.docker("rm", "-f", web, client, outsider)
        daemon.docker("network", "rm", net, other)
    assert daemon.docker("network", "inspect", net).returncode != 0


def test_connect_disconnect_running_container(daemon: Daemon) -> None:
    net = _name()
    web, c = _name(), _name()
    try:
        # A subnet of the test daemon's own pool (free for sure), given explicitly.
        probe = _name()
        ok(daemon.docker("network", "create", probe))
        subnet = json.loads(ok(daemon.docker("network", "inspect", probe)))[0]["IPAM"]["Config"][0]["Subnet"]
        ok(daemon.docker("network", "rm", probe))
        prefix = subnet.rsplit(".", 1)[0] + "."
        web_ip = prefix + str(int(subnet.rsplit(".", 1)[1].split("/")[0]) + 10)
        ok(daemon.docker("network", "create", "--subnet", subnet, net))
        _httpd(daemon, web, "--network", net, "--ip", web_ip)
        ok(daemon.docker("run", "-d", "--name", c, "busybox", "sleep", "60"))
        ok(daemon.docker("network", "connect", "--alias", "buddy", net, c))
        fetch = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {web_ip} 80"
        out = ok(daemon.docker("exec", c, "sh", "-c", f"ip -4 addr show eth1; {fetch}"))
        assert prefix in out and "hello-" in out
        ok(daemon.docker("network", "disconnect", net, c))
        out = daemon.docker("exec", c, "ip", "addr").stdout.decode()
        assert "eth1" not in out
    finally:
        daemon.docker("rm", "-f", web, c)
        daemon.docker("network", "rm", net)


def test_modes_none_host_container(daemon: Daemon) -> None:
    a = _name()
    try:
        out = ok(daemon.docker("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link"))
        assert "lo" in out and "eth0" not in out
        out = ok(daemon.docker("run", "--rm", "--network", "host", "busybox", "hostname"))
        assert out.strip() == subprocess.run(["hostname"], capture_output=True, text=True).stdout.strip()
        # The identity files each mode gets (berth.services.etcfiles), as Docker writes them.
        out = ok(daemon.docker("run", "--rm", "--network", "none", "-h", "lonely", "busybox", "cat",
                               "/etc/hostname", "/etc/hosts"))
        assert out.startswith("lonely\n127.0.0.1\tlocalhost\n") and "ip6-allrouters" in out, out
        out = ok(daemon.docker("run", "--rm", "--network", "host", "busybox", "cat", "/etc/hosts"))
        assert out == Path("/etc/hosts").read_text()
        ok(daemon.docker("run", "-d", "--name", a, "--mac-address", "02:42:ac:11:00:99",
                         "--add-host", "db.local:10.1.2.3", "--dns", "10.9.9.9", "busybox", "sleep", "60"))
        out = ok(daemon.docker("run", "--rm", "--network", f"container:{a}", "busybox", "sh", "-c",
                               "cat /sys/class/net/eth0/address; cat /etc/hosts /etc/resolv.conf"))
        assert "02:42:ac:11:00:99" in out
        assert "10.1.2.3\tdb.local" in out and "nameserver 10.9.9.9" in out
    finally:
        daemon.docker("rm", "-f", a)


def test_bad_network_input(daemon: Daemon) -> None:
    client = docker.DockerClient(base_url=daemon.host)
    try:
        # 400, not 404: the docker CLI takes a 404 from create for a missing image and pulls
        with pytest.raises(docker.errors.APIError, match="network nosuchnet not found") as err:
            client.containers.create("busybox", "true", network="nosuchnet")
        assert err.value.status_code == 400
    finally:
        client.close()
    r = daemon.docker("network", "rm", "bridge")
    assert r.returncode != 0 and b"pre-defined" in r.stderr
    n = _name()
    try:
        ok(daemon.docker("network", "create", n))
        r = daemon.docker("network", "create", n)
        assert r.returncode != 0 and b"already exists" in r.stderr
        r = daemon.docker("run", "--rm", "--ip", "10.1.1.1", "busybox", "true")
        assert r.returncode == 125 and b"user defined networks only" in r.stderr
    finally:
        daemon.docker("network", "rm", n)
    names = ok(daemon.docker("network", "ls", "--format", "{{.Name}}")).split()
    assert {"bridge", "host", "none"} <= set(names) and n not in names


def test_publish_all_and_ranges(daemon: Daemon) -> None:
    a = _name()
    try:
        _httpd(daemon, a, "--expose", "80", "--expose", "9999/udp", "-P",
               "-p", "127.0.0.1:38100-38110:7000")
        insp = json.loads(ok(daemon.docker("inspect", a)))[0]["NetworkSettings"]["Ports"]
        assert 32768 <= int(insp["80/tcp"][0]["HostPort"]) < 61000
        assert insp["9999/udp"][0]["HostPort"]
        assert 38100 <= int(insp["7000/tcp"][0]["HostPort"]) <= 38110
        out = ok(daemon.docker("port", a))
        assert "80/tcp -> 0.0.0.0:" in out and "7000/tcp -> 127.0.0.1:381" in out
        port = insp["80/tcp"][0]["HostPort"]
        deadline = time.monotonic() + 10
        while _curl(f"http://127.0.0.1:{port}/").returncode != 0:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        # A client in another container reaches the published port through the host (hairpin).
        gw = json.loads(ok(daemon.docker("inspect", a)))[0]["NetworkSettings"]["Gateway"]
        out = ok(daemon.docker("run", "--rm", "busybox", "sh", "-c",
                               f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {gw} {port}"))
        assert "hello-" in out
    finally:
        daemon.docker("rm", "-f", a)


def test_internal_network_and_restart_keeps_ports(daemon: Daemon) -> None:
    net, a, b = _name(), _name(), _name()
    try:
        ok(daemon.docker("network", "create", "--internal", net))
        out = ok(daemon.docker("run", "--rm", "--network", net, "busybox", "ip", "route"))
        assert "default" not in out
        _httpd(daemon, a, "-p", "127.0.0.1::80")
        ok(daemon.docker("restart", "-t", "1", a))
        port = ok(daemon.docker("port", a, "80")).strip().rsplit(":", 1)[1]
        deadline = time.monotonic() + 10
        while _curl(f"http://127.0.0.1:{port}/").returncode != 0:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert _rules(daemon).count(f"dport {port} ") == 1
        ok(daemon.docker("stop", "-t", "1", a))
        assert f"dport {port} " not in _rules(daemon)
        assert json.loads(ok(daemon.docker("inspect", a)))[0]["NetworkSettings"]["Ports"] == {}
    finally:
        daemon.docker("rm", "-f", a, b)
        daemon.docker("network", "rm", net)


def test_addresses_are_held_while_running_only(daemon: Daemon) -> None:
    """As Docker: a /29 (5 addresses) takes 7 created containers; an address is reserved at
    start and released at stop; an --ip another running container holds fails at start."""
    net, cs = _name(), [_name() for _ in range(7)]
    pinned = _name()
    ok(daemon.docker("network", "create", "--subnet", "10.251.9.0/29", net))
    try:
        for c in cs:
            ok(daemon.docker("create", "--name", c, "--network", net, "busybox", "sleep", "60"))
        ok(daemon.docker("create", "--name", pinned, "--network", net, "--ip", "10.251.9.2",
                         "busybox", "sleep", "60"))
        created = json.loads(ok(daemon.docker("inspect", pinned)))[0]["NetworkSettings"]["Networks"][net]
        assert created["IPAddress"] == "" and created["MacAddress"] == ""
        assert created["IPAMConfig"] == {"IPv4Address": "10.251.9.2"}
        ok(daemon.docker("start", cs[0]))
        running = json.loads(ok(daemon.docker("inspect", cs[0])))[0]["NetworkSettings"]["Networks"][net]
        assert running["IPAddress"] == "10.251.9.2" and running["MacAddress"] == "02:42:0a:fb:09:02"
        r = daemon.docker("start", pinned)
        assert r.returncode != 0 and b"Address already in use" in r.stderr
        ok(daemon.docker("stop", "-t", "0", cs[0]))
        stopped = json.loads(ok(daemon.docker("inspect", cs[0])))[0]["NetworkSettings"]["Networks"][net]
        assert stopped["IPAddress"] == "" and stopped["EndpointID"] == ""
        ok(daemon.docker("start", pinned))
        for c in cs[1:5]:
            ok(daemon.docker("start", c))
        r = daemon.docker("start", cs[5])
        assert r.returncode != 0 and b"no available IPv4 addresses" in r.stderr
        members = json.loads(ok(daemon.docker("network", "inspect", net)))[0]["Containers"]
        assert sorted(m["IPv4Address"] for m in members.values()) == \
            [f"10.251.9.{i}/29" for i in range(2, 7)]
    finally:
        daemon.docker("rm", "-f", *cs, pinned)
        daemon.docker("network", "rm", net)


def test_connect_refused_for_none_host_and_container_modes(daemon: Daemon) -> None:
    """dockerd's 400 and its words for each: none is 'private', host and container: share a
    namespace; the container keeps its mode."""
    net, none, host, joined = _name(), _name(), _name(), _name()
    try:
        ok(daemon.docker("network", "create", net))
        ok(daemon.docker("run", "-d", "--name", none, "--network", "none", "busybox", "sleep", "60"))
        ok(daemon.docker("create", "--name", host, "--network", "host", "busybox", "true"))
        ok(daemon.docker("create", "--name", joined, "--network", f"container:{none}", "busybox",
                         "true"))
        cases = {none: "container cannot be connected to multiple networks with one of the "
                       "networks in private (none) mode",
                 host: "container sharing network namespace with another container or host "
                       "cannot be connected to any other network",
                 joined: "container sharing network namespace with another container or host "
                         "cannot be connected to any other network"}
        client = docker.APIClient(base_url=daemon.host)
        try:
            for container, message in cases.items():
                with pytest.raises(docker.errors.APIError, match=re.escape(message)) as err:
                    client.connect_container_to_network(container, net)
                assert err.value.status_code == 400
                r = daemon.docker("network", "connect", net, container)
                assert r.returncode == 1 and message.encode() in r.stderr, r.stderr
        finally:
            client.close()
        assert list(json.loads(ok(daemon.docker("inspect", none)))[0]["NetworkSettings"]
                    ["Networks"]) == ["none"]
    finally:
        daemon.docker("rm", "-f", none, host, joined)
        daemon.docker("network", "rm", net)
