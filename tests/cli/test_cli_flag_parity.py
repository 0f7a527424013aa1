"""berth's run/create flags against the docker CLI's: the same flags, given to ``docker create``
and ``berth create`` against the same berthd, must give the same Config and HostConfig in
inspect, and the same refusals for bad input. The docker CLI is the judge."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

# Differ between any two containers, whatever created them.
_PER_CONTAINER = {("Config", "Hostname"), ("HostConfig", "ContainerIDFile")}


def _inspect(daemon, name: str) -> dict:
    r = daemon.docker("inspect", name)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]


def _pair(daemon, names, flags: list[str], cmd: tuple[str, ...] = ("true",),
          exclusive: bool = False) -> tuple[dict, dict]:
    """Create one container with each CLI and return both inspects; ``exclusive``: remove the
    first before creating the second (a fixed IP address is one container's)."""
    out = []
    for cli in (daemon.docker, daemon.berth):
        name = names.new("parity")
        r = cli("create", "--name", name, *flags, "busybox", *cmd)
        assert r.returncode == 0, (cli.__name__, flags, r.stderr)
        out.append(_inspect(daemon, name))
        if exclusive:
            assert daemon.berth("rm", name).returncode == 0
    return out[0], out[1]


def _section(info: dict, section: str) -> dict:
    """One inspect section without per-container fields, the container's own name (in
    Links) replaced by a placeholder."""
    text = json.dumps({k: v for k, v in info[section].items() if (section, k) not in _PER_CONTAINER})
    out = json.loads(text.replace(info["Name"] + "/", "<self>/"))
    if out.get("Env"):
        # docker 28's CLI sends -e entries in a varying rotation (seen: A B C, C A B for the
        # same command line); berth keeps the command line's order. Compare them as a set.
        out["Env"] = sorted(out["Env"])
    return out


def _assert_same(by_docker: dict, by_berth: dict) -> None:
    for section in ("Config", "HostConfig"):
        want, got = _section(by_docker, section), _section(by_berth, section)
        diff = {k: (want.get(k), got.get(k)) for k in want.keys() | got.keys()
                if want.get(k) != got.get(k)}
        assert not diff, f"{section} differs (docker, berth): {diff}"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "labels").write_text("# labels\nteam=infra\nBARE\n\ntier=db\n")
    (tmp_path / "env").write_text("FROM_FILE=1\n# comment\n")
    (tmp_path / "seccomp.json").write_text('{\n  "defaultAction": "SCMP_ACT_ALLOW",\n'
                                           '  "syscalls": []\n}\n')
    return {k: str(tmp_path / k) for k in ("labels", "env", "seccomp.json")}


def test_namespace_and_link_flags(daemon, names):
    target = names.new("target")
    assert daemon.berth("create", "--name", target, "--ipc", "shareable", "busybox", "true").returncode == 0
    for flags in (
        ["--link", f"{target}:db", "--link", target, "--ipc", "shareable", "--pid", "host",
         "--uts", "host", "--cgroupns", "private", "--userns", "host"],
        ["--ipc", f"container:{target}", "--pid", f"container:{target}"],
        ["--ipc", "none"],
        ["--ipc", "private", "--cgroupns", "host"],
    ):
        by_docker, by_berth = _pair(daemon, names, flags)
        _assert_same(by_docker, by_berth)
    hc = by_docker["HostConfig"]
    assert (hc["IpcMode"], hc["CgroupnsMode"]) == ("private", "host")


def test_security_device_and_sysctl_flags(daemon, names, files):
    flags = ["--security-opt", "no-new-privileges", "--security-opt", f"seccomp={files['seccomp.json']}",
             "--group-add", "10", "--group-add", "audio", "--cap-add", "NET_ADMIN", "--cap-drop",
             "MKNOD", "--read-only", "--privileged=false", "--init", "--device",
             "/dev/null:/dev/mynull:r", "--device", "/dev/zero", "--device-cgroup-rule", "c 1:3 rwm",
             "--shm-size", "128m", "--sysctl", "net.ipv4.ip_forward=1", "--sysctl",
             "kernel.msgmax=65536"]
    by_docker, by_berth = _pair(daemon, names, flags)
    _assert_same(by_docker, by_berth)
    hc = by_berth["HostConfig"]
    assert hc["ShmSize"] == 128 << 20 and hc["GroupAdd"] == ["10", "audio"]
    assert hc["SecurityOpt"][1].startswith('seccomp={"defaultAction":"SCMP_ACT_ALLOW"')


def test_resource_flags(daemon, names):
    flags = ["--oom-score-adj", "500", "--oom-kill-disable", "-m", "100m", "--memory-reservation",
             "10m", "--memory-swap", "200m", "--memory-swappiness", "10", "-c", "512",
             "--cpu-period", "100000", "--cpu-quota", "50000", "--cpuset-cpus", "0",
             "--cpuset-mems", "0", "--pids-limit", "50", "--ulimit", "nofile=100:200",
             "--blkio-weight", "300"]
    by_docker, by_berth = _pair(daemon, names, flags)
    _assert_same(by_docker, by_berth)
    assert by_berth["HostConfig"]["MemoryReservation"] == 10 << 20
    _assert_same(*_pair(daemon, names, ["--memory-swap", "-1", "-m", "10m", "--cpus", "0.5"]))


def test_logging_health_and_lifecycle_flags(daemon, names):
    flags = ["--runtime", "runc", "--log-driver", "json-file", "--log-opt", "max-size=1m",
             "--log-opt", "max-file=2", "--health-cmd", "true", "--health-interval", "5s",
             "--health-retries", "3", "--health-timeout", "1.5s", "--health-start-period",
             "1m30s", "--restart", "on-failure:2", "--stop-signal", "SIGUSR1", "--stop-timeout", "3"]
    by_docker, by_berth = _pair(daemon, names, flags)
    _assert_same(by_docker, by_berth)
    assert by_berth["Config"]["Healthcheck"]["StartPeriod"] == 90 * 10**9
    _assert_same(*_pair(daemon, names, ["--no-healthcheck", "--rm", "-t", "-i", "--init=false"]))


def test_config_and_network_flags(daemon, names, files):
    flags = ["--label-file", files["labels"], "-l", "x=y", "--env-file", files["env"], "-e", "A=1",
             "--tmpfs", "/run:size=1m", "--mount", "type=tmpfs,target=/y", "--add-host",
             "h:1.2.3.4", "--dns", "1.1.1.1", "--dns-search", "example.com", "--dns-option",
             "ndots:2", "--hostname", "box", "-w", "/tmp", "-u", "nobody", "--entrypoint", "sh",
             "-p", "127.0.0.1:8080:80", "--expose", "90", "-v", "/data", "--add-host", "h2=5.6.7.8",
             "--add-host", "h3:[::1]", "--mount", "type=tmpfs,target=/z,tmpfs-size=1m,tmpfs-mode=1777",
             "--mac-address", "02:42:ac:11:00:09", "-e", "-dash=1", "-eGLUED=2"]
    by_docker, by_berth = _pair(daemon, names, flags)
    _assert_same(by_docker, by_berth)
    assert by_berth["Config"]["Labels"] == {"team": "infra", "tier": "db", "x": "y"}
    _assert_same(*_pair(daemon, names, ["--security-opt", "systempaths=unconfined"]))


@pytest.mark.parametrize("flags", [
    ["--pid", "bogus"], ["--uts", "bogus"], ["--cgroupns", "bogus"], ["--sysctl", "vm.swappiness=1"],
    ["--device", "relative"], ["--device", "/dev/null:/dev/x:rwx"], ["--health-interval", "5"],
    ["--health-retries", "-1"], ["--no-healthcheck", "--health-cmd", "true"], ["--link", "a:b:c"],
    ["--security-opt", "bogus"], ["--security-opt", "seccomp=/nonexistent.json"],
    ["--memory-swappiness", "200"], ["--shm-size", "lots"], ["--init=maybe"], ["-c", "x"],
    ["--device-cgroup-rule", "bad"], ["--ipc", "bogus"], ["--label-file", "/nonexistent"],
    ["--restart", "sometimes"], ["--restart", "on-failure:x"], ["-e", "=bad"], ["--add-host", "x"],
    ["--add-host", "h:bad"], ["--network-alias", "x"], ["--stop-signal", "NOPE"],
    ["--mount", "type=tmpfs,target=/t,tmpfs-size=bad"], ["--mount", "type=bind,target=/t,bogus=1"],
    ["-v", "/tmp:/b:bogus"], ["-v", "/a:/b:ro:x"], ["-v", ":/b"], ["-p", "70000:80"], ["-p", "abc"],
    ["--ulimit", "bogus=1"],
    ["--ulimit", "nofile=a"], ["--ulimit", "nofile=9:1"], ["-l", "=x"], ["--cpus", "abc"],
    ["--pids-limit", "abc"], ["--stop-timeout", "abc"], ["--expose", "80/bogus"],
])
def test_bad_flags_refused_like_docker(daemon, names, flags):
    """Same status (125 for the CLI's own checks, 1 for the daemon's), nothing created."""
    name = names.new("bad")
    docker = daemon.docker("create", "--name", name, *flags, "busybox", "true")
    berth = daemon.berth("create", "--name", name, *flags, "busybox", "true")
    assert docker.returncode in (1, 125) and berth.returncode == docker.returncode, (docker, berth)
    # The same reason, give or take docker's "Run 'docker create --help'" trailer.
    assert docker.stderr.splitlines()[0].replace(b"'docker ", b"'berth ") in berth.stderr, (docker, berth)
    assert daemon.berth("inspect", name).returncode == 1


@pytest.mark.parametrize("flags", [["-v", "/tmp:relative"], ["--tmpfs", "relative"],
                                   ["--restart", "always:3"]])
def test_cli_refuses_what_berthd_takes_at_create(daemon, names, flags):
    """dockerd refuses these at create; berthd does only at start (or not at all), so the
    berth CLI refuses them itself, with dockerd's words."""
    name = names.new("clicheck")
    r = daemon.berth("create", "--name", name, *flags, "busybox", "true")
    assert r.returncode == 125 and (b"must be absolute" in r.stderr or b"on-failure" in r.stderr)
    assert daemon.berth("inspect", name).returncode == 1


@pytest.mark.parametrize("flags", [
    ["--gpus", "all"], ["--platform", "linux/amd64"], ["--cgroup-parent", "x"],
    ["--use-api-socket"], ["--domainname", "example.com"], ["--storage-opt", "size=1G"],
])
def test_unimplemented_flags_refused(daemon, flags):
    name = f"berth-parity-refused-{uuid.uuid4().hex[:8]}"
    r = daemon.berth("create", "--name", name, *flags, "busybox", "true")
    assert r.returncode == 125 and f"berth does not support {flags[0]}".encode() in r.stderr
    assert daemon.berth("inspect", name).returncode == 1


def test_cidfile_and_pull_policy(daemon, names, tmp_path):
    cidfile = tmp_path / "cid"
    name = names.new("cid")
    r = daemon.berth("create", "--name", name, "--cidfile", str(cidfile), "busybox", "true")
    assert r.returncode == 0, r.stderr
    assert cidfile.read_text() == r.stdout.decode().strip()
    assert _inspect(daemon, name)["HostConfig"]["ContainerIDFile"] == str(cidfile)
    again = names.new("cid")
    r = daemon.berth("create", "--name", again, "--cidfile", str(cidfile), "busybox", "true")
    assert r.returncode == 1 and b"container ID file found" in r.stderr
    assert daemon.berth("inspect", again).returncode == 1
    # --pull never: a missing image is an error, not a pull; the same status and message.
    for command in ("create", "run"):
        docker = daemon.docker(command, "--pull", "never", "busybox:no-such-tag", "true")
        berth = daemon.berth(command, "--pull", "never", "busybox:no-such-tag", "true")
        assert berth.returncode == docker.returncode == (1 if command == "create" else 125)
        assert b"Error response from daemon: No such image: busybox:no-such-tag" in berth.stderr


def test_update_flags_match_docker(daemon, names):
    flags = ["-m", "64m", "--memory-swap", "128m", "--memory-reservation", "16m", "-c", "512",
             "--cpu-period", "100000", "--cpu-quota", "20000", "--cpuset-cpus", "0", "--pids-limit",
             "30", "--restart", "on-failure:3"]
    by_docker, by_berth = _pair(daemon, names, ["-m", "32m"])
    for cli, info in ((daemon.docker, by_docker), (daemon.berth, by_berth)):
        r = cli("update", *flags, info["Name"].lstrip("/"))
        assert r.returncode == 0, (cli.__name__, r.stderr)
    by_docker, by_berth = (_inspect(daemon, i["Name"].lstrip("/")) for i in (by_docker, by_berth))
    _assert_same(by_docker, by_berth)
    assert by_berth["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    for bad in (["-m", "lots"], ["--restart", "sometimes"], ["--restart", "on-failure:x"], ["-c", "x"]):
        docker = daemon.docker("update", *bad, by_docker["Name"].lstrip("/"))
        berth = daemon.berth("update", *bad, by_berth["Name"].lstrip("/"))
        assert berth.returncode == docker.returncode != 0, (bad, docker.stderr, berth.stderr)


def test_link_and_ipc_reach_the_container(daemon, names):
    """The issue's flags at work, not only recorded: a link's hosts entry, a shared /dev/shm."""
    server = names.new("server")
    r = daemon.berth("run", "-d", "--name", server, "--ipc", "shareable", "busybox", "sh", "-c",
                     "echo shared > /dev/shm/mark; sleep 60")
    assert r.returncode == 0, r.stderr
    out = daemon.berth("run", "--rm", "--link", f"{server}:db", "--ipc", f"container:{server}",
                       "busybox", "sh", "-c", "grep -c '\\bdb\\b' /etc/hosts; cat /dev/shm/mark")
    assert out.returncode == 0 and out.stdout == b"1\nshared\n", out


def _endpoints(info: dict) -> dict:
    """What a container asked of each network: the network names, its IPAM request and aliases."""
    return {name: ((ep.get("IPAMConfig") or {}).get("IPv4Address"), sorted(ep.get("Aliases") or []))
            for name, ep in info["NetworkSettings"]["Networks"].items()}


def test_several_networks_and_per_network_settings(daemon, names):
    nets = [f"berth-parity-net-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    subnet = "10.213.{}.0/24"
    try:
        for i, net in enumerate(nets):
            r = daemon.berth("network", "create", "--subnet", subnet.format(i), net)
            assert r.returncode == 0, r.stderr
        for flags in (
            ["--network", nets[0], "--network", nets[1]],
            ["--network", f"name={nets[0]},alias=a1,alias=a2", "--network", f"name={nets[1]},ip=10.213.1.7"],
            ["--network", nets[0], "--network-alias", "legacy", "--network", nets[1]],
        ):
            by_docker, by_berth = _pair(daemon, names, flags, exclusive=True)
            _assert_same(by_docker, by_berth)
            assert _endpoints(by_docker) == _endpoints(by_berth), flags
            assert set(_endpoints(by_berth)) == set(nets)
        for flags in (["--network", nets[0], "--network", nets[0]],
                      ["--network", "host", "--network", nets[0]],
                      ["--network", f"name={nets[0]},alias=a", "--network-alias", "b"],
                      ["--network", "alias=a"], ["--network", f"name={nets[0]},bogus=1"]):
            docker = daemon.docker("create", *flags, "busybox", "true")
            berth = daemon.berth("create", *flags, "busybox", "true")
            assert berth.returncode == docker.returncode == 125, (flags, docker.stderr, berth.stderr)
        r = daemon.berth("create", "--network", f"name={nets[0]},ip6=fd00::2", "busybox", "true")
        assert r.returncode == 125 and b"berth does not support --network ip6" in r.stderr
    finally:
        daemon.berth("network", "rm", *nets)
