"""generate(): Docker Config + HostConfig -> OCI runtime spec, and Docker's error messages."""

from __future__ import annotations

from typing import Any

import pytest

from berth.errors import InvalidArgument
from berth.oci.capabilities import ALL_CAPABILITIES, DOCKER_DEFAULT_CAPABILITIES
from berth.oci.specgen import (
    DOCKER_MASKED_PATHS,
    HostDevice,
    NetworkFiles,
    SpecInput,
    generate,
)

CID = "a" * 64


def gen(config: dict[str, Any] | None = None, hc: dict[str, Any] | None = None,
        **kw: Any) -> dict[str, Any]:
    cfg = {"Cmd": ["sh"], "Env": ["PATH=/bin"]}
    cfg.update(config or {})
    return generate(SpecInput(container_id=CID, config=cfg, host_config=hc or {},
                              cgroups_path=f"berth/{CID}", **kw))


def mounts_by_dest(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["destination"]: m for m in spec["mounts"]}


def test_defaults() -> None:
    spec = gen(network_files=NetworkFiles("hostname", "hosts", "resolv.conf"))
    p = spec["process"]
    assert p["args"] == ["sh"] and p["cwd"] == "/" and p["terminal"] is False
    assert p["env"] == ["PATH=/bin", f"HOSTNAME={CID[:12]}"]
    assert p["user"] == {"uid": 0, "gid": 0}
    assert p["capabilities"]["bounding"] == list(DOCKER_DEFAULT_CAPABILITIES)
    assert spec["hostname"] == CID[:12]
    assert spec["root"] == {"path": "rootfs", "readonly": False}
    assert spec["linux"]["cgroupsPath"] == f"berth/{CID}"
    assert {n["type"] for n in spec["linux"]["namespaces"]} == {"mount", "network", "pid",
                                                                 "ipc", "uts"}
    assert spec["linux"]["maskedPaths"] == list(DOCKER_MASKED_PATHS)
    assert "/proc/sys" in spec["linux"]["readonlyPaths"]
    m = mounts_by_dest(spec)
    assert list(m)[:7] == ["/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup",
                           "/dev/mqueue", "/dev/shm"]
    assert "size=67108864" in m["/dev/shm"]["options"]
    assert "ro" in m["/sys"]["options"]
    assert m["/etc/hosts"] == {"destination": "/etc/hosts", "type": "bind", "source": "hosts",
                               "options": ["rbind", "rprivate"]}
    assert spec["linux"]["resources"]["devices"][0] == {"allow": False, "access": "rwm"}


def test_entrypoint_cmd_tty_cwd_env() -> None:
    spec = gen({"Entrypoint": ["/e"], "Cmd": ["a"], "Tty": True, "WorkingDir": "/w",
                "Env": ["HOSTNAME=mine", "X=1"]}, hostname="h")
    p = spec["process"]
    assert p["args"] == ["/e", "a"] and p["terminal"] and p["cwd"] == "/w"
    assert p["env"][1:] == ["HOSTNAME=mine", "TERM=xterm", "X=1"]
    assert spec["hostname"] == "h"


@pytest.mark.parametrize(("config", "message"), [
    ({"Cmd": None}, "no command specified"),
    ({"WorkingDir": "rel"}, "the working directory 'rel' is invalid, it needs to be an "
                            "absolute path"),
])
def test_invalid_config(config: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        gen(config)
    assert str(err.value) == message


@pytest.mark.parametrize(("user", "proc_user", "annotation"), [
    ("", {"uid": 0, "gid": 0}, None),
    ("1000:1000", {"uid": 1000, "gid": 1000, "additionalGids": [1000]}, None),
    ("1000", {"uid": 1000, "gid": 0}, "1000"),
    ("nobody", {"uid": 0, "gid": 0}, "nobody"),
    ("nobody:staff", {"uid": 0, "gid": 0}, "nobody:staff"),
])
def test_user(user: str, proc_user: dict[str, int], annotation: str | None) -> None:
    spec = gen({"User": user})
    assert spec["process"]["user"] == proc_user
    assert spec["annotations"].get("berth.user") == annotation


def test_cap_add_drop() -> None:
    spec = gen(hc={"CapAdd": ["net_admin", "CAP_SYS_TIME"], "CapDrop": ["MKNOD", "cap_chown"]})
    bounding = spec["process"]["capabilities"]["bounding"]
    assert "CAP_NET_ADMIN" in bounding and "CAP_SYS_TIME" in bounding
    assert "CAP_MKNOD" not in bounding and "CAP_CHOWN" not in bounding
    assert gen(hc={"CapDrop": ["ALL"], "CapAdd": ["KILL"]})["process"]["capabilities"][
        "effective"] == ["CAP_KILL"]
    all_but = gen(hc={"CapAdd": ["ALL"], "CapDrop": ["SYS_ADMIN"]})
    assert all_but["process"]["capabilities"]["permitted"] == [
        c for c in ALL_CAPABILITIES if c != "CAP_SYS_ADMIN"]
    with pytest.raises(InvalidArgument, match=r'^invalid CapAdd: unknown capability: "CAP_BOGUS"$'):
        gen(hc={"CapAdd": ["bogus"]})
    with pytest.raises(InvalidArgument, match=r'^invalid CapDrop: unknown capability: "CAP_NOPE"$'):
        gen(hc={"CapDrop": ["nope"]})


def test_privileged() -> None:
    dev = HostDevice("/dev/sda", "b", 8, 0, 0o660, 0, 6)
    spec = gen(hc={"Privileged": True, "CapDrop": ["ALL"]}, host_devices=[dev])
    assert spec["process"]["capabilities"]["bounding"] == list(ALL_CAPABILITIES)
    assert "maskedPaths" not in spec["linux"] and "readonlyPaths" not in spec["linux"]
    assert spec["linux"]["devices"] == [{"path": "/dev/sda", "type": "b", "major": 8,
                                         "minor": 0, "fileMode": 0o660, "uid": 0, "gid": 6}]
    assert spec["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert "ro" not in mounts_by_dest(spec)["/sys"]["options"]


def test_readonly_rootfs_makes_network_files_ro() -> None:
    spec = gen(hc={"ReadonlyRootfs": True}, network_files=NetworkFiles(hosts="/h"))
    assert spec["root"]["readonly"] is True
    assert mounts_by_dest(spec)["/etc/hosts"]["options"] == ["rbind", "rprivate", "ro"]


def test_binds_mounts_tmpfs() -> None:
    hc = {
        "Binds": ["/host:/ctr:ro", "/h2:/c2", "vol:/data:rw,z", "/h3:/c3:rshared"],
        "Mounts": [{"Type": "bind", "Source": "/src", "Target": "/tgt", "ReadOnly": True},
                   {"Type": "tmpfs", "Target": "/tm",
                    "TmpfsOptions": {"SizeBytes": 1024, "Mode": 0o700}}],
        "Tmpfs": {"/run": "rw,exec,size=64m"},
        "ShmSize": 1 << 20,
    }
    m = mounts_by_dest(gen(hc=hc, volumes={"vol": "/var/lib/berth/volumes/vol/_data"}))
    assert m["/ctr"] == {"destination": "/ctr", "type": "bind", "source": "/host",
                         "options": ["rbind", "ro", "rprivate"]}
    assert m["/c2"]["options"] == ["rbind", "rprivate"]
    assert m["/data"]["source"] == "/var/lib/berth/volumes/vol/_data"
    assert m["/c3"]["options"] == ["rbind", "rshared"]
    assert m["/tgt"]["options"] == ["rbind", "ro", "rprivate"]
    assert m["/tm"]["options"] == ["noexec", "nosuid", "nodev", "size=1024", "mode=700"]
    assert m["/run"]["options"] == ["nosuid", "nodev", "rw", "exec", "size=64m"]
    assert "size=1048576" in m["/dev/shm"]["options"]


def test_user_mount_replaces_default_at_same_destination() -> None:
    spec = gen(hc={"Binds": ["/myshm:/dev/shm"]})
    shm = [m for m in spec["mounts"] if m["destination"] == "/dev/shm"]
    assert shm == [{"destination": "/dev/shm", "type": "bind", "source": "/myshm",
                    "options": ["rbind", "rprivate"]}]


@pytest.mark.parametrize(("hc", "message"), [
    ({"Binds": ["/a:rel"]}, "invalid volume specification: '/a:rel': invalid mount config: "
                            "mount path must be absolute"),
    ({"Binds": ["/a:/"]}, "invalid volume specification: '/a:/': invalid mount config: "
                          "destination can't be '/'"),
    ({"Binds": ["/a:/x:bogus"]}, "invalid mode: bogus"),
    ({"Binds": ["/a:/x", "/b:/x"]}, "Duplicate mount point: /x"),
    ({"Mounts": [{"Type": "npipe", "Target": "/x"}]}, "mount type unknown: 'npipe'"),
    ({"ShmSize": -1}, "SHM size can not be less than 0"),
])
def test_invalid_mounts(hc: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        gen(hc=hc)
    assert str(err.value) == message


def test_network_modes() -> None:
    host = gen(hc={"NetworkMode": "host"})
    types = {n["type"] for n in host["linux"]["namespaces"]}
    assert "network" not in types and "uts" not in types and "hostname" not in host
    none = gen(hc={"NetworkMode": "none"})
    assert {"type": "network"} in none["linux"]["namespaces"]
    joined = gen(hc={"NetworkMode": "container:abc"}, network_namespace_path="/proc/9/ns/net")
    assert {"type": "network", "path": "/proc/9/ns/net"} in joined["linux"]["namespaces"]
    other = gen(hc={"PidMode": "host", "IpcMode": "host", "CgroupnsMode": "private"})
    types = {n["type"] for n in other["linux"]["namespaces"]}
    assert "pid" not in types and "ipc" not in types and "cgroup" in types


def test_resources() -> None:
    spec = gen(hc={"Memory": 64 << 20, "MemoryReservation": 32 << 20, "NanoCpus": 1_500_000_000,
                   "CpuShares": 512, "CpusetCpus": "0-1", "CpusetMems": "0", "PidsLimit": 10,
                   "BlkioWeight": 300}, host_cpus=4)
    r = spec["linux"]["resources"]
    assert r["memory"] == {"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20}
    assert r["cpu"] == {"period": 100000, "quota": 150000, "shares": 512, "cpus": "0-1",
                        "mems": "0"}
    assert r["pids"] == {"limit": 10} and r["blockIO"] == {"weight": 300}
    r2 = gen(hc={"Memory": 64 << 20, "MemorySwap": -1, "CpuQuota": 20000,
                 "CpuPeriod": 50000, "PidsLimit": -1})["linux"]["resources"]
    assert r2["memory"] == {"limit": 64 << 20, "swap": -1}
    assert r2["cpu"] == {"period": 50000, "quota": 20000} and "pids" not in r2


@pytest.mark.parametrize(("hc", "message"), [
    ({"Memory": 1024}, "Minimum memory limit allowed is 6MB"),
    ({"MemorySwap": 1 << 30}, "You should always set the Memory limit when using Memoryswap "
                              "limit, see usage"),
    ({"Memory": 64 << 20, "MemorySwap": 32 << 20},
     "Minimum memoryswap limit should be larger than memory limit, see usage"),
    ({"Memory": 64 << 20, "MemoryReservation": 128 << 20},
     "Minimum memory limit can not be less than memory reservation limit, see usage"),
    ({"NanoCpus": 10**9, "CpuQuota": 5000},
     "Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
    ({"NanoCpus": 8 * 10**9}, "Range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs "
                              "available"),
    ({"CpuQuota": 500}, "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
    ({"CpuPeriod": 10}, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than "
                        "1s (i.e. 1000000)"),
    ({"CpusetCpus": "0-a"}, "Invalid value 0-a for cpuset cpus"),
    ({"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000"),
    ({"OomScoreAdj": 2000}, "Invalid value 2000, range for oom score adj is [-1000, 1000]"),
    ({"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]}, "invalid ulimit type: bogus"),
    ({"Ulimits": [{"Name": "nofile", "Soft": 2, "Hard": 1}]},
     "ulimit soft limit must be less than or equal to hard limit: 2 > 1"),
    ({"Sysctls": {"kernel.hostname": "x"}}, "sysctl 'kernel.hostname' is not whitelisted"),
    ({"NetworkMode": "host", "Sysctls": {"net.ipv4.ip_forward": "1"}},
     "sysctl 'net.ipv4.ip_forward' is not allowed in host network namespace"),
    # the docker CLI sends the profile's content: a path is not a profile
    ({"SecurityOpt": ["seccomp=/my/profile.json"]},
     "Decoding seccomp profile failed: Expecting value: line 1 column 1 (char 0)"),
])
def test_invalid_host_config(hc: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        gen(hc=hc, host_cpus=4)
    assert str(err.value) == message


def test_ulimits_sysctls_security_oom() -> None:
    spec = gen(hc={"Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
                   "Sysctls": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "100"},
                   "SecurityOpt": ["no-new-privileges", "seccomp=unconfined"],
                   "OomScoreAdj": 300})
    assert spec["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "soft": 1024,
                                           "hard": 2048}]
    assert spec["linux"]["sysctl"] == {"net.ipv4.ip_forward": "1", "kernel.shmmax": "100"}
    assert spec["process"]["noNewPrivileges"] is True
    assert spec["process"]["oomScoreAdj"] == 300
