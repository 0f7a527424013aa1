"""bpfranges: libseccomp's programs with their chains of equality tests as search trees of
range tests decide exactly what libseccomp's own programs decide (a classic BPF interpreter
runs both over every system call number, architecture and argument value the program tests),
are far shorter, and the kernel takes them and filters by them."""

from __future__ import annotations

import errno
import os
import struct
from typing import Any

import pytest

from berth.oci.capabilities import DOCKER_DEFAULT_CAPABILITIES
from berth.runtime import _sys, bpfranges
from berth.runtime import seccomp as rt_seccomp
from berth.security import seccomp
from tests.forked import check_in_child

_INSN = struct.Struct("=HBBI")
_X86_64, _I386, _AARCH64 = 0xC000003E, 0x40000003, 0xC00000B7
_X32 = 0x40000000


def _insns(program: bytes) -> list[tuple[int, int, int, int]]:
    return [_INSN.unpack_from(program, off) for off in range(0, len(program), _INSN.size)]


def _run(insns: list[tuple[int, int, int, int]], nr: int, arch: int,
         args: tuple[int, ...] = (0,) * 6) -> tuple[int, bool]:
    """The action a seccomp filter returns for struct seccomp_data {nr, arch, ip, args}, and
    whether it looked at an argument on the way."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, *args)
    a = pc = 0
    looked = False
    while True:
        code, jt, jf, k = insns[pc]
        if code == 0x20:  # BPF_LD | BPF_W | BPF_ABS
            a = struct.unpack_from("=I", data, k)[0]
            looked = looked or k >= 16
        elif code == 0x06:  # BPF_RET | BPF_K
            return k, looked
        elif code == 0x54:  # BPF_ALU | BPF_AND | BPF_K
            a &= k
        elif code == 0x05:  # BPF_JMP | BPF_JA
            pc += k
        elif code in (0x15, 0x25, 0x35, 0x45):  # JEQ, JGT, JGE, JSET with K
            taken = {0x15: a == k, 0x25: a > k, 0x35: a >= k, 0x45: bool(a & k)}[code]
            pc += jt if taken else jf
        else:
            raise AssertionError(f"instruction {code:#x} not expected in a libseccomp program")
        pc += 1


def _libseccomp_program(oci: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> bytes:
    with monkeypatch.context() as m:
        m.setattr(bpfranges, "shorten", lambda program: program)
        return rt_seccomp.build_program(rt_seccomp.compile_rules(oci))


def _default_oci() -> dict[str, Any]:
    oci = seccomp.to_oci(seccomp.SeccompChoice(), DOCKER_DEFAULT_CAPABILITIES, os.uname().machine,
                         (6, 1))
    assert oci is not None
    return oci


def _argument_constants(insns: list[tuple[int, int, int, int]]) -> list[int]:
    """What the program compares arguments with, and the neighbours of each."""
    values = {0, 1, 0xFFFFFFFF}
    on_argument = False
    for code, _, _, k in insns:
        if code == 0x20:
            on_argument = k >= 16
        elif on_argument and code in (0x15, 0x25, 0x35, 0x45, 0x54):
            values |= {k, (k - 1) & 0xFFFFFFFF, (k + 1) & 0xFFFFFFFF}
    return sorted(values)


@pytest.mark.parametrize("profile", ["docker-default", "docker-default-privileged-caps",
                                     "allow-with-denials"])
def test_same_decisions_as_libseccomp_s_program(profile: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    if profile == "docker-default":
        oci = _default_oci()
    elif profile == "docker-default-privileged-caps":
        oci = seccomp.to_oci(seccomp.SeccompChoice(), ("CAP_SYS_ADMIN", "CAP_SYS_PTRACE",
                                                       *DOCKER_DEFAULT_CAPABILITIES),
                             os.uname().machine, (6, 1))
        assert oci is not None
    else:
        oci = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename"],
             "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES},
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_NE"}]}]}
    original = _libseccomp_program(oci, monkeypatch)
    short = bpfranges.shorten(original)
    assert rt_seccomp.build_program(rt_seccomp.compile_rules(oci)) == short
    if profile.startswith("docker-default"):
        assert len(short) * 2 < len(original)  # 988 -> 336 instructions for the default
    plain, short = _insns(original), _insns(short)
    numbers = [*range(-1, 1100), *(_X32 + n for n in range(0, 600)), 0x7FFFFFFF]
    with_arguments = []
    for arch in (_X86_64, _I386, _AARCH64, 0):
        for nr in numbers:
            decision = _run(plain, nr, arch)
            assert _run(short, nr, arch) == decision, (hex(arch), nr)
            if decision[1]:
                with_arguments.append((arch, nr))
    # Rules on arguments: each value the program compares an argument with, and its
    # neighbours, in each argument (high word 0, 1 or all ones) of each call that has them.
    values = _argument_constants(plain)
    for arch, nr in with_arguments:
        for high in (0, 1 << 32, 0xFFFFFFFF << 32):
            for value in values:
                for index in range(6):
                    args = [0] * 6
                    args[index] = value | high
                    assert _run(short, nr, arch, tuple(args)) == \
                        _run(plain, nr, arch, tuple(args)), (hex(arch), nr, args)


def test_the_kernel_filters_by_the_short_program() -> None:
    program = rt_seccomp.build_program(rt_seccomp.compile_rules(_default_oci()))

    def filtered() -> bool:
        rt_seccomp.install(program)
        os.getppid()  # allowed: inside one of the range tests
        try:
            # refused (Docker's default allows setns only with CAP_SYS_ADMIN): EPERM
            _sys.setns(os.open("/proc/self/ns/uts", os.O_RDONLY), 0)
        except OSError as exc:
            return exc.errno == errno.EPERM
        return False

    check_in_child(filtered)


def _program(*insns: tuple[int, int, int, int]) -> bytes:
    return b"".join(_INSN.pack(*i) for i in insns)


def test_left_as_it_is_when_a_jump_lands_inside_a_chain() -> None:
    allow, deny = (0x06, 0, 0, 0x7FFF0000), (0x06, 0, 0, 0x00050001)
    run = [(0x15, 4 - i, 0, 10 + i) for i in range(4)]  # nr 10..13 -> allow
    plain = _program((0x20, 0, 0, 0), *run, deny, allow)
    shorter = bpfranges.shorten(plain)
    assert len(shorter) == len(plain) - 2 * _INSN.size
    for nr in range(0, 20):
        assert _run(_insns(shorter), nr, 0) == _run(_insns(plain), nr, 0)
    # A jump from before the chain straight to its third test: it cannot be cut there.
    jumped = _program((0x20, 0, 0, 0), (0x15, 2, 0, 99), *run, deny, allow)
    assert bpfranges.shorten(jumped) == jumped
    # Two tests gain nothing; a truncated program is not touched.
    two = _program((0x20, 0, 0, 0), (0x15, 2, 0, 10), (0x15, 1, 0, 11), deny, allow)
    assert bpfranges.shorten(two) == two
    assert bpfranges.shorten(plain[:-3]) == plain[:-3]


def test_a_chain_of_scattered_values_and_targets_becomes_a_tree() -> None:
    """Values out of order, repeated (the first test wins), at 0 and at the top of the range,
    three targets: the tree decides as the chain did for every value around them."""
    rets = [(0x06, 0, 0, 0x7FFF0000), (0x06, 0, 0, 0x00050001), (0x06, 0, 0, 0x00050026),
            (0x06, 0, 0, 0)]  # allow, EPERM, ENOSYS; the last one is the chain's exit
    tests = [(40, 0), (5, 1), (7, 0), (8, 0), (9, 0), (0, 2), (21, 1), (20, 1), (7, 2),
             (0xFFFFFFFF, 0), (6, 0), (41, 0), (39, 0), (100, 2), *((v, 0) for v in range(50, 70))]
    n = len(tests)
    # ld at 0, test i at 1 + i, the exit at n + 1, return j at n + 2 + j
    chain = [(0x15, n + j - i, 0, value) for i, (value, j) in enumerate(tests)]
    plain = _program((0x20, 0, 0, 0), *chain, rets[3], *rets[:3])
    shorter = bpfranges.shorten(plain)
    assert len(shorter) < len(plain)
    values = {v for v, _ in tests} | {0xFFFFFFFE, 1 << 31}
    for value in sorted(values | {(v + d) & 0xFFFFFFFF for v in values for d in (-1, 1)}):
        nr = value - (1 << 32) if value >= 1 << 31 else value
        assert _run(_insns(shorter), nr, 0) == _run(_insns(plain), nr, 0), value
