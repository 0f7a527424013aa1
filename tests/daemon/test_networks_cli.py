"""berth's own CLI for networks, volumes and ports against a private berthd."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import Daemon
from tests.daemon.helpers import ok

pytestmark = pytest.mark.root


def test_berth_network_volume_port_commands(daemon: Daemon) -> None:
    net, vol, c = (f"t-{uuid.uuid4().hex[:10]}" for _ in range(3))
    try:
        nid = ok(daemon.berth("network", "create", "--label", "team=x", net)).strip()
        assert len(nid) == 64
        assert net in ok(daemon.berth("network", "ls", "--format", "{{.Name}}")).split()
        info = json.loads(ok(daemon.berth("network", "inspect", net)))[0]
        assert info["Labels"] == {"team": "x"} and info["IPAM"]["Config"][0]["Subnet"]
        r = daemon.berth("network", "create", net)
        assert r.returncode == 1 and b"already exists" in r.stderr
        assert ok(daemon.berth("volume", "create", vol)).strip() == vol
        assert vol in ok(daemon.berth("volume", "ls", "-q")).split()
        # The default tables and the networks' -q / --no-trunc ids, as the docker CLI prints them.
        table = ok(daemon.berth("network", "ls")).splitlines()
        assert table[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
        assert [nid[:12], net, "bridge", "local"] in [line.split() for line in table[1:]]
        assert nid[:12] in ok(daemon.berth("network", "ls", "-q")).split()
        assert nid in ok(daemon.berth("network", "ls", "-q", "--no-trunc")).split()
        table = ok(daemon.berth("volume", "ls")).splitlines()
        assert table[0].split() == ["DRIVER", "VOLUME", "NAME"]
        assert ["local", vol] in [line.split() for line in table[1:]]
        ok(daemon.docker("run", "-d", "--name", c, "-v", f"{vol}:/data", "-p", "127.0.0.1::80",
                         "busybox", "sleep", "60"))
        out = ok(daemon.berth("port", c))
        assert out.startswith("80/tcp -> 127.0.0.1:")
        assert ok(daemon.berth("port", c, "80")).startswith("127.0.0.1:")
        ps = ok(daemon.berth("ps", "--filter", f"name={c}", "--format", "{{.Ports}}"))
        assert "->80/tcp" in ps
        ok(daemon.berth("network", "connect", "--alias", "al", net, c))
        nets = json.loads(ok(daemon.docker("inspect", c)))[0]["NetworkSettings"]["Networks"]
        assert nets[net]["Aliases"] == ["al"] and nets[net]["IPAddress"]
        ok(daemon.berth("network", "disconnect", net, c))
        r = daemon.berth("volume", "rm", vol)
        assert r.returncode == 1 and b"in use" in r.stderr
    finally:
        daemon.docker("rm", "-f", c)
        daemon.berth("volume", "rm", "-f", vol)
        daemon.berth("network", "rm", net)
    assert net not in ok(daemon.berth("network", "ls", "--format", "{{.Name}}")).split()
    assert vol not in ok(daemon.berth("volume", "ls", "-q")).split()


def test_berth_run_network_and_storage_flags(daemon: Daemon, tmp_path) -> None:
    net, c = (f"t-{uuid.uuid4().hex[:10]}" for _ in range(2))
    (tmp_path / "f").write_text("bound\n")
    try:
        ok(daemon.berth("network", "create", net))
        ok(daemon.berth("run", "-d", "--name", c, "--network", net, "--network-alias", "svc",
                        "-p", "127.0.0.1::80", "--expose", "90", "--dns", "10.3.3.3",
                        "--add-host", "h1:10.4.4.4", "--mac-address", "02:42:0a:00:00:42",
                        "--mount", f"type=bind,src={tmp_path},dst=/b,readonly", "-v", "/anon",
                        "busybox", "sleep", "60"))
        info = json.loads(ok(daemon.docker("inspect", c)))[0]
        ports = info["NetworkSettings"]["Ports"]
        assert ports["80/tcp"][0]["HostIp"] == "127.0.0.1" and ports["90/tcp"] is None
        ep = info["NetworkSettings"]["Networks"][net]
        assert ep["Aliases"] == ["svc"] and ep["MacAddress"] == "02:42:0a:00:00:42"
        assert {m["Destination"] for m in info["Mounts"]} == {"/b", "/anon"}
        out = ok(daemon.docker("exec", c, "sh", "-c", "cat /b/f /etc/resolv.conf /etc/hosts"))
        assert "bound" in out and "nameserver 10.3.3.3" in out and "10.4.4.4\th1" in out
        r = daemon.berth("run", "--rm", "-p", "1-2:3-5", "busybox", "true")
        assert r.returncode == 125 and b"invalid ranges" in r.stderr
    finally:
        daemon.docker("rm", "-f", "-v", c)
        daemon.berth("network", "rm", net)


def test_object_commands_match_the_docker_cli(daemon: Daemon) -> None:
    """ls / inspect / rm / prune of networks and volumes share one implementation in berth's
    CLI (``berth.cli.objects``); each answers like the docker CLI, name by name."""
    tag = uuid.uuid4().hex[:8]
    vol, net = f"objv-{tag}", f"objn-{tag}"
    missing = f"nosuch-{tag}"
    try:
        ok(daemon.berth("volume", "create", "--label", f"objtest={tag}", vol))
        ok(daemon.berth("network", "create", "--label", f"objtest={tag}", net))
        for args in (["volume", "ls", "-q", "--filter", f"label=objtest={tag}"],
                     ["volume", "ls", "--filter", f"name={vol}", "--format", "{{.Name}} {{.Driver}}"],
                     ["network", "ls", "-q", "--filter", f"label=objtest={tag}"],
                     ["volume", "inspect", "--format", "{{.Name}} {{.Labels}}", vol],
                     ["network", "inspect", "-f", "{{.Name}} {{.Driver}}", net]):
            b, d = daemon.berth(*args), daemon.docker(*args)
            assert (b.returncode, b.stdout) == (d.returncode, d.stdout), (args, b, d)
        # One bad name among good ones: the others still answer, exit status 1.
        for kind, name in (("volume", vol), ("network", net)):
            b = daemon.berth(kind, "inspect", name, missing)
            d = daemon.docker(kind, "inspect", name, missing)
            assert b.returncode == d.returncode == 1
            assert [o["Name"] for o in json.loads(b.stdout)] == [name]
            assert missing in b.stderr.decode() and b.stderr.startswith(b"Error response from daemon")
        r = daemon.berth("network", "rm", "-f", missing)  # -f: a missing network is no error
        assert (r.returncode, r.stdout, r.stderr) == (0, b"", b""), r
        r = daemon.berth("volume", "rm", missing)
        assert r.returncode == 1 and missing in r.stderr.decode()
        r = daemon.berth("volume", "ls", "--filter", "novalue")
        assert r.returncode == 125 and b"bad format of filter (expected name=value)" in r.stderr
        r = daemon.berth("network")
        assert r.returncode == 125 and b"requires a subcommand" in r.stderr
        out = ok(daemon.berth("volume", "prune", "-f", "-a", "--filter", f"label=objtest={tag}"))
        assert out.startswith(f"Deleted Volumes:\n{vol}\n\n"), out
        out = ok(daemon.berth("network", "prune", "-f", "--filter", f"label=objtest={tag}"))
        assert out == f"Deleted Networks:\n{net}\n", out
        assert ok(daemon.berth("volume", "ls", "-q", "--filter", f"label=objtest={tag}")) == ""
    finally:
        daemon.berth("volume", "rm", "-f", vol)
        daemon.berth("network", "rm", "-f", net)
