"""Process setup: users (spec and Docker --user annotation), capabilities, env, cwd, rlimits,
sysctls, no_new_privs — checked from inside, plus the pure user/executable resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.errors import RuntimeFailure
from berth.oci.capabilities import DOCKER_DEFAULT_CAPABILITIES
from berth.runtime import container, process
from berth.testing.rootfs import make_busybox_rootfs

from .conftest import Env

DOCKER_DEFAULT_CAPEFF = 0x00000000A80425FB


@pytest.mark.root
def test_root_has_docker_default_caps(rt: Env) -> None:
    r = rt.run(["sh", "-c", "grep -E '^Cap(Eff|Bnd|Prm)' /proc/self/status"])
    caps = dict(line.split(":\t") for line in r.stdout.splitlines())
    assert {k: int(v, 16) for k, v in caps.items()} == {
        "CapPrm": DOCKER_DEFAULT_CAPEFF, "CapEff": DOCKER_DEFAULT_CAPEFF,
        "CapBnd": DOCKER_DEFAULT_CAPEFF}


@pytest.mark.root
def test_user_by_uid_has_no_effective_caps(rt: Env) -> None:
    def mutate(spec: dict) -> None:
        spec["process"]["user"] = {"uid": 65534, "gid": 65534, "additionalGids": [10]}

    r = rt.run(["sh", "-c", "id -u; id -g; id -G; grep CapEff /proc/self/status; echo $HOME"],
               mutate=mutate)
    assert r.stdout.splitlines() == ["65534", "65534", "65534 10", "CapEff:\t0000000000000000",
                                     "/nonexistent"]


@pytest.mark.root
@pytest.mark.parametrize(("user", "expected"), [
    ("nobody", "65534 65534 /nonexistent"),
    ("1234", "1234 0 /"),
    ("nobody:root", "65534 0 /nonexistent"),
    ("1000:1001", "1000 1001 /"),
    ("root", "0 0 /root"),
])
def test_user_annotation_resolved_in_container(rt: Env, user: str, expected: str) -> None:
    def mutate(spec: dict) -> None:
        spec.setdefault("annotations", {})["berth.user"] = user

    r = rt.run(["sh", "-c", 'echo $(id -u) $(id -g) $HOME'], mutate=mutate)
    assert r.stdout.strip() == expected


@pytest.mark.root
def test_unknown_user_name_fails_create(rt: Env) -> None:
    bundle, mounts, _ = rt.bundle(
        ["true"], mutate=lambda s: s.setdefault("annotations", {}).update({"berth.user": "ghost"}))
    with pytest.raises(RuntimeFailure) as err:
        container.create(rt.options(bundle, mounts))
    assert str(err.value) == "unable to find user ghost: no matching entries in passwd file"
    assert not (rt.state_root / rt.ids[-1]).exists()


@pytest.mark.root
def test_env_cwd_created_and_home_kept(rt: Env) -> None:
    def mutate(spec: dict) -> None:
        spec["process"]["env"] += ["FOO=bar", "HOME=/custom"]
        spec["process"]["cwd"] = "/work/dir"

    r = rt.run(["sh", "-c", "pwd; echo $FOO $HOME"], mutate=mutate)
    assert r.stdout.splitlines() == ["/work/dir", "bar /custom"]


@pytest.mark.root
def test_rlimits_sysctls_oom_score_and_no_new_privs(rt: Env) -> None:
    def mutate(spec: dict) -> None:
        spec["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1000, "hard": 2000}]
        spec["process"]["noNewPrivileges"] = True
        spec["process"]["oomScoreAdj"] = 500
        spec["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}

    r = rt.run(["sh", "-c", "ulimit -n; ulimit -Hn; cat /proc/sys/net/ipv4/ip_forward; "
                "cat /proc/self/oom_score_adj; grep NoNewPrivs /proc/self/status"], mutate=mutate)
    assert r.stdout.splitlines() == ["1000", "2000", "1", "500", "NoNewPrivs:\t1"]


@pytest.mark.root
def test_ambient_caps_for_non_root(rt: Env) -> None:
    def mutate(spec: dict) -> None:
        spec["process"]["user"] = {"uid": 1000, "gid": 1000}
        caps = ["CAP_NET_BIND_SERVICE"]
        spec["process"]["capabilities"] = {"bounding": list(DOCKER_DEFAULT_CAPABILITIES), "effective": caps,
                                           "permitted": caps, "inheritable": caps,
                                           "ambient": caps}

    r = rt.run(["grep", "CapEff", "/proc/self/status"], mutate=mutate)
    assert r.stdout == "CapEff:\t0000000000000400\n"


def _db(tmp_path: Path) -> tuple[str, str]:
    root = make_busybox_rootfs(tmp_path / "fs")
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\nalice:x:1000:\nstaff:x:50:alice,bob\n")
    return str(root / "etc" / "passwd"), str(root / "etc" / "group")


def test_resolve_user_variants(tmp_path: Path) -> None:
    passwd, group = _db(tmp_path)

    def r(s: str | None, spec: dict | None = None) -> process.User:
        return process.resolve_user(spec or {}, s, passwd, group)

    assert r("alice") == process.User(1000, 1000, (1000, 50), "/home/alice")
    assert r("1000") == process.User(1000, 1000, (1000, 50), "/home/alice")
    assert r("alice:staff") == process.User(1000, 50, (50,), "/home/alice")
    assert r("42:7") == process.User(42, 7, (7,), "/")
    assert r(None, {"uid": 1000, "gid": 5, "additionalGids": [9]}) == process.User(
        1000, 5, (9,), "/home/alice")
    with pytest.raises(RuntimeFailure, match="unable to find group nogroup: no matching"):
        r("alice:nogroup")


def test_find_executable_errors(tmp_path: Path) -> None:
    exe = tmp_path / "tool"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    plain = tmp_path / "plain"
    plain.write_text("")
    assert process.find_executable("tool", f"/nonexistent:{tmp_path}") == str(exe)
    with pytest.raises(RuntimeFailure, match=r'exec: "plain": executable file not found'):
        process.find_executable("plain", str(tmp_path))
    with pytest.raises(RuntimeFailure, match=r'exec: ".*plain": permission denied'):
        process.find_executable(str(plain), None)
    with pytest.raises(RuntimeFailure, match=r'exec: ".*": is a directory'):
        process.find_executable(str(tmp_path), None)


@pytest.mark.root
def test_scheduler_policy_and_nice(rt: Env) -> None:
    def mutate(spec: dict) -> None:
        spec["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 7}

    # /proc/self/stat: field 19 is the nice value, field 41 the policy (3 = SCHED_BATCH)
    r = rt.run(["sh", "-c", "cut -d' ' -f19,41 /proc/self/stat"], mutate=mutate)
    assert (r.status, r.stdout) == (0, "7 3\n"), r.stderr


def test_bad_scheduler_is_refused() -> None:
    with pytest.raises(RuntimeFailure, match="unknown policy 'SCHED_FAST'"):
        process.scheduler({"policy": "SCHED_FAST"})
    with pytest.raises(RuntimeFailure, match="unknown flag"):
        process.scheduler({"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_TURBO"]})
    assert process.scheduler({"policy": "SCHED_RR", "priority": 5, "flags": [
        "SCHED_FLAG_RESET_ON_FORK"]}) == process.Scheduler(2, 1, priority=5)
