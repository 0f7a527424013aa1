"""Pure parts of seccomp: Docker profile -> OCI linux.seccomp -> rules -> BPF."""

from __future__ import annotations

import json

import pytest

from berth.errors import InvalidArgument, RuntimeFailure
from berth.oci.capabilities import DOCKER_DEFAULT_CAPABILITIES
from berth.runtime import seccomp as rt
from berth.security import seccomp


def _names(oci: dict) -> set[str]:
    return {n for rule in oci["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW" for n in rule["names"]}


def test_default_profile_follows_capabilities() -> None:
    default = seccomp.to_oci(seccomp.SeccompChoice(), DOCKER_DEFAULT_CAPABILITIES, "x86_64", (6, 18))
    assert default is not None
    assert default["defaultAction"] == "SCMP_ACT_ERRNO" and default["defaultErrnoRet"] == 1
    assert default["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    allowed = _names(default)
    for blocked in ("mount", "umount2", "unshare", "setns", "keyctl", "add_key", "bpf", "kexec_load",
                    "init_module", "reboot", "swapon", "perf_event_open", "open_by_handle_at"):
        assert blocked not in allowed, blocked
    assert {"read", "execve", "chroot", "ptrace", "arch_prctl", "socket", "clone"} <= allowed
    clone = next(r for r in default["syscalls"] if r["names"] == ["clone"])
    assert clone["args"][0]["op"] == "SCMP_CMP_MASKED_EQ"
    admin = seccomp.to_oci(seccomp.SeccompChoice(), [*DOCKER_DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"],
                           "x86_64", (6, 18))
    assert admin is not None
    assert {"mount", "unshare", "setns", "clone3"} <= _names(admin)
    assert not any(r["names"] == ["clone"] and r["args"] for r in admin["syscalls"])
    old = seccomp.to_oci(seccomp.SeccompChoice(), DOCKER_DEFAULT_CAPABILITIES, "x86_64", (4, 4))
    assert old is not None and "ptrace" not in _names(old)
    arm = seccomp.to_oci(seccomp.SeccompChoice(), DOCKER_DEFAULT_CAPABILITIES, "aarch64", (6, 1))
    assert arm is not None and "arch_prctl" not in _names(arm)
    assert arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]


def test_unconfined_and_bad_profiles() -> None:
    assert seccomp.to_oci(seccomp.parse_choice("unconfined"), (), "x86_64", (6, 1)) is None
    for bad in ("[1]", "{", '{"defaultAction": "SCMP_ACT_NOPE"}',
                '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]}',
                '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], '
                '"action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": "z", "op": "SCMP_CMP_EQ"}]}]}'):
        with pytest.raises(InvalidArgument):
            seccomp.parse_choice(bad)


def test_rules_drop_default_action_and_split_same_argument() -> None:
    rules = rt.compile_rules({
        "defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},          # same as default: dropped
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                      {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["no_such_call", "read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        ]})
    assert rules.default_action == 0x00050001
    assert [r.name for r in rules.rules] == ["personality", "personality", "no_such_call", "read"]
    assert rules.rules[0].conditions != rules.rules[1].conditions
    assert rules.rules[-1].action == 0x0005000D
    program = rt.build_program(rules)  # libseccomp skips the unknown name
    assert program and len(program) % 8 == 0
    with pytest.raises(RuntimeFailure):
        rt.compile_rules({"defaultAction": "SCMP_ACT_NOPE"})
    with pytest.raises(RuntimeFailure, match="SCMP_ACT_NOTIFY cannot be used as default action"):
        rt.compile_rules({"defaultAction": "SCMP_ACT_NOTIFY"})  # as runc


def test_program_for_default_profile_builds() -> None:
    oci = seccomp.to_oci(seccomp.SeccompChoice(), DOCKER_DEFAULT_CAPABILITIES, "x86_64", (6, 18))
    assert oci is not None
    program = rt.program_for({"seccomp": json.loads(json.dumps(oci))})
    assert program is not None and len(program) > 100 * 8
    assert rt.program_for({}) is None
