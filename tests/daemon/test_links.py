"""Legacy links (``--link name:alias``) through the real docker CLI, checked against a private
dockerd: on the default bridge a hosts entry and moby's environment variables for the target,
inspect's ``/target:/container/alias``, and moby's refusals; on a user network the alias is
answered by the network's DNS for the linking container only."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.conftest import Daemon, start_berthd, stop_berthd
from tests.daemon.apihttp import request
from tests.daemon.helpers import boot, inspect, ok

pytestmark = pytest.mark.root


def _name(made: dict[str, list[str]], kind: str = "containers") -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    made[kind].append(name)
    return name


def test_default_bridge_link_gives_hosts_entry_and_environment(
        daemon: Daemon, made: dict[str, list[str]]) -> None:
    target, linker = _name(made), _name(made)
    ok(daemon.docker("run", "-d", "--name", target, "--expose", "80", "--expose", "5432",
                     "--expose", "8000-8002/udp", "-e", "FOO=bar", "-e", "HOME=/h",
                     "busybox", "sleep", "300"))
    t = inspect(daemon, target)
    ip, hostname = t["NetworkSettings"]["Networks"]["bridge"]["IPAddress"], t["Config"]["Hostname"]
    out = ok(daemon.docker("run", "--rm", "--name", linker, "--link", f"{target}:db",
                           "--add-host", "h1:1.2.3.4", "busybox", "sh", "-c",
                           "cat /etc/hosts; echo ---; env"))
    hosts, env_text = out.split("---\n")
    lines = hosts.splitlines()
    # alias, hostname and name, after the --add-host entries (moby's order)
    assert lines.index(f"{ip}\tdb {hostname} {target}") == lines.index("1.2.3.4\th1") + 1, hosts
    env = {line for line in env_text.splitlines() if line.startswith("DB_")}
    expected = {f"DB_NAME=/{linker}/db", "DB_ENV_FOO=bar", f"DB_PORT=tcp://{ip}:80"}
    for port, proto in ((80, "tcp"), (5432, "tcp"), (8000, "udp"), (8001, "udp"), (8002, "udp")):
        head = f"DB_PORT_{port}_{proto.upper()}"
        expected |= {f"{head}={proto}://{ip}:{port}", f"{head}_ADDR={ip}", f"{head}_PORT={port}",
                     f"{head}_PROTO={proto}"}
    expected |= {f"DB_PORT_8000_UDP_START=udp://{ip}:8000", "DB_PORT_8000_UDP_PORT_START=8000",
                 f"DB_PORT_8000_UDP_END=udp://{ip}:8002", "DB_PORT_8000_UDP_PORT_END=8002"}
    assert env == expected, sorted(env ^ expected)
    # a link without an alias goes by the target's name; the name is then not repeated
    out = ok(daemon.docker("run", "--rm", "--link", target, "busybox", "cat", "/etc/hosts"))
    assert f"{ip}\t{target} {hostname}" in out.splitlines(), out


def test_inspect_shows_links_and_follows_a_rename(daemon: Daemon, made: dict[str, list[str]]) -> None:
    target, linker, renamed = _name(made), _name(made), _name(made)
    ok(daemon.docker("run", "-d", "--name", target, "busybox", "sleep", "300"))
    ok(daemon.docker("create", "--name", linker, "--link", f"{target}:al", "busybox", "true"))
    assert inspect(daemon, linker)["HostConfig"]["Links"] == [f"/{target}:/{linker}/al"]
    ok(daemon.docker("rename", target, renamed))
    assert inspect(daemon, linker)["HostConfig"]["Links"] == [f"/{renamed}:/{linker}/al"]
    ok(daemon.docker("start", "-a", linker))


def test_link_refusals(daemon: Daemon, made: dict[str, list[str]]) -> None:
    stopped, linker, net, on_net = _name(made), _name(made), _name(made, "networks"), _name(made)
    ok(daemon.docker("create", "--name", stopped, "busybox", "true"))
    ok(daemon.docker("network", "create", net))
    ok(daemon.docker("run", "-d", "--name", on_net, "--network", net, "busybox", "sleep", "300"))
    before = ok(daemon.docker("ps", "-aq")).split()
    for flags, message in [
        (["--link", "nosuch-target:al"],
         "could not get container for nosuch-target: No such container: nosuch-target"),
        (["--link", f"{stopped}:al", "--network", "host"],
         "conflicting options: host type networking can't be used with links. This would result "
         "in undefined behavior"),
    ]:
        r = daemon.docker("run", "--rm", *flags, "busybox", "true")
        assert r.returncode == 125, r.stderr
        assert f"Error response from daemon: {message}".encode() in r.stderr, r.stderr
        assert b"Unable to find image" not in r.stderr
    assert ok(daemon.docker("ps", "-aq")).split() == before  # refused at create: nothing made
    # at start: the target must be running, on the default bridge
    ok(daemon.docker("create", "--name", linker, "--link", f"{stopped}:al", "busybox", "true"))
    r = daemon.docker("start", linker)
    assert r.returncode == 1
    assert f"Cannot link to a non running container: /{stopped} AS /{linker}/al".encode() in r.stderr
    r = daemon.docker("run", "--rm", "--link", f"{on_net}:al", "busybox", "true")
    assert r.returncode == 125
    on_net_id = inspect(daemon, on_net)["Id"]
    assert f"container {on_net_id} not attached to default bridge network".encode() in r.stderr


def test_user_network_link_is_a_dns_alias_for_the_linker(
        daemon: Daemon, made: dict[str, list[str]]) -> None:
    net, target, linker = _name(made, "networks"), _name(made), _name(made)
    ok(daemon.docker("network", "create", net))
    ok(daemon.docker("run", "-d", "--name", target, "--network", net, "busybox", "sleep", "300"))
    ip = inspect(daemon, target)["NetworkSettings"]["Networks"][net]["IPAddress"]
    lookup = ("for i in 1 2 3 4 5 6 7 8 9 10; do nslookup al >/dev/null 2>&1 && break; sleep 0.3; "
              "done; nslookup al")
    out = ok(daemon.docker("run", "--rm", "--network", net, "--link", f"{target}:al",
                           "busybox", "sh", "-c", lookup + "; env"))
    assert f"Address: {ip}" in out.split("Name:")[-1], out
    assert "AL_NAME" not in out  # no environment on a user network
    r = daemon.docker("run", "--rm", "--network", net, "busybox", "nslookup", "al")
    assert ip not in r.stdout.decode().split("Name:")[-1]
    # not checked at create, listed under the endpoint, as moby does
    ok(daemon.docker("create", "--name", linker, "--network", net, "--link", f"{target}:al",
                     "--link", "nosuch-target:x", "busybox", "true"))
    insp = inspect(daemon, linker)
    assert insp["HostConfig"]["Links"] is None
    assert insp["NetworkSettings"]["Networks"][net]["Links"] == [f"{target}:al", "nosuch-target:x"]


def test_rm_link_removes_only_the_link(daemon: Daemon, made: dict[str, list[str]]) -> None:
    target, linker = _name(made), _name(made)
    ok(daemon.docker("run", "-d", "--name", target, "busybox", "sleep", "300"))
    ok(daemon.docker("create", "--name", linker, "--link", f"{target}:al", "busybox", "sh", "-c",
                     "env; cat /etc/hosts"))
    # a container's own name is no link: refused, and the container stays (it was removed)
    r = daemon.docker("rm", "--link", linker)
    assert r.returncode == 1
    assert b"Conflict, cannot remove the default link name of the container" in r.stderr, r.stderr
    r = daemon.docker("rm", "--link", f"/{linker}/nosuch")
    assert r.returncode == 1 and f"No such container: {linker}/nosuch".encode() in r.stderr, r.stderr
    assert inspect(daemon, linker)["HostConfig"]["Links"] == [f"/{target}:/{linker}/al"]
    assert ok(daemon.docker("rm", "--link", f"{linker}/al")).strip() == f"{linker}/al"
    assert inspect(daemon, linker)["HostConfig"]["Links"] is None
    # berth's own CLI the same way (its -l was parsed and ignored: the container went)
    r = daemon.berth("rm", "-l", linker)
    assert r.returncode != 0 and b"cannot remove the default link name" in r.stderr, r.stderr
    assert inspect(daemon, linker)["Id"]
    out = ok(daemon.docker("start", "-a", linker))
    assert "AL_NAME" not in out and " al " not in out, out
    assert inspect(daemon, target)["State"]["Running"]


def test_linkers_hosts_entry_follows_the_targets_new_address(
        daemon: Daemon, made: dict[str, list[str]]) -> None:
    target, linker, squatter = _name(made), _name(made), _name(made)
    ok(daemon.docker("run", "-d", "--name", target, "busybox", "sleep", "300"))
    ok(daemon.docker("run", "-d", "--name", linker, "--link", f"{target}:al", "busybox", "sleep", "300"))
    old = inspect(daemon, target)["NetworkSettings"]["IPAddress"]
    # the target's address goes to another container while it is stopped
    ok(daemon.docker("stop", "-t", "0", target))
    ok(daemon.docker("run", "-d", "--name", squatter, "busybox", "sleep", "300"))
    ok(daemon.docker("start", target))
    new = inspect(daemon, target)["NetworkSettings"]["IPAddress"]
    assert new != old
    hosts = ok(daemon.docker("exec", linker, "cat", "/etc/hosts")).splitlines()
    assert any(line.startswith(f"{new}\tal ") for line in hosts), hosts
    assert not any(line.startswith(f"{old}\t") for line in hosts), hosts


def test_a_removed_target_leaves_a_dangling_link_until_berthd_restarts(
        own_daemon: tuple[Path, list[Daemon]]) -> None:
    """As a private dockerd shows: ``rm -f`` of a target keeps the link on its linker (inspect
    still lists it), and the linker's start fails with a 500, even once another container
    took the name; dockerd's restart re-registers the link by name, to that container, and
    drops a link whose name nobody bears."""
    base, started = own_daemon
    d = boot(base, started)
    ok(d.docker("run", "-d", "--name", "tgt", "busybox", "sleep", "300"))
    ok(d.docker("run", "-d", "--name", "gone", "busybox", "sleep", "300"))
    ok(d.docker("create", "--name", "src", "--link", "tgt:al", "--link", "gone:g", "busybox",
                "sleep", "300"))
    ok(d.docker("rm", "-f", "tgt", "gone"))
    assert inspect(d, "src")["HostConfig"]["Links"] == ["/tgt:/src/al", "/gone:/src/g"]
    message = "Cannot link to a non running container: /tgt AS /src/al"
    r = d.docker("start", "src")
    assert r.returncode == 1 and f"Error response from daemon: {message}".encode() in r.stderr, r.stderr
    status, _, body = request(str(d.socket), "POST", "/containers/src/start")
    assert (status, json.loads(body)["message"]) == (500, message)
    state = inspect(d, "src")["State"]
    assert (state["Status"], state["Error"], state["ExitCode"]) == ("created", message, 128), state
    # a new container with the name is not the link's target while berthd runs
    ok(d.docker("run", "-d", "--name", "tgt", "busybox", "sleep", "300"))
    r = d.docker("start", "src")
    assert r.returncode == 1 and message.encode() in r.stderr, r.stderr
    assert inspect(d, "src")["HostConfig"]["Links"] == ["/tgt:/src/al", "/gone:/src/g"]
    # the restart links "tgt" to the container of that name and drops "gone"
    stop_berthd(d)
    d = start_berthd(base)
    started.append(d)
    assert inspect(d, "src")["HostConfig"]["Links"] == ["/tgt:/src/al"]
    assert inspect(d, "tgt")["State"]["Running"]  # live restore
    ok(d.docker("start", "src"))
    ip = inspect(d, "tgt")["NetworkSettings"]["IPAddress"]
    hosts = ok(d.docker("exec", "src", "cat", "/etc/hosts")).splitlines()
    assert any(line.startswith(f"{ip}\tal ") for line in hosts), hosts
