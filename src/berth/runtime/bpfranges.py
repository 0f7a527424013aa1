"""Shortening libseccomp's classic BPF: runs of equality tests become range tests.

libseccomp compiles an allowlist such as Docker's default profile into one ``A == k`` test per
system call, in number order: ~960 of its ~990 instructions. The kernel's cost of installing
a filter (checking it, converting it to eBPF, JIT-compiling it, and running it once per
system call number for its action cache) grows with its length, and so does every system
call the container makes afterwards. A run of such tests on consecutive numbers that all
jump to the same place when equal, and fall through to the next test otherwise, decides
exactly what one range test (``A >= first`` and ``A <= last``) decides, so it is replaced
by two instructions; every jump over the removed ones is shortened to match.

The result is the same function of its input for every input (nothing else is changed);
anything this module does not expect (a jump into the middle of a run, an offset that does
not fit) leaves the program as libseccomp made it. Owns nothing but this rewrite.
"""

from __future__ import annotations

import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

__all__ = ["FORMAT", "shorten"]

# Names this rewrite in the program cache's key (seccomp.CacheKeys): a change to what it
# produces must change this.
FORMAT: Final = "ranges1"

_INSN: Final = struct.Struct("=HBBI")  # struct sock_filter: code, jt, jf, k
_JMP: Final = 0x05
_JA: Final = 0x05 | 0x00  # BPF_JMP | BPF_JA
_JEQ_K: Final = 0x05 | 0x10  # BPF_JMP | BPF_JEQ | BPF_K
_JGT_K: Final = 0x05 | 0x20
_JGE_K: Final = 0x05 | 0x30
_MIN_RUN: Final = 3  # two tests replace a run: shorter from three on


def _targets(i: int, code: int, jt: int, jf: int, k: int) -> tuple[int, ...]:
    """Where instruction ``i`` may go next, as absolute indexes (none for a return)."""
    if code & 0x07 != _JMP:
        return () if code & 0x07 == 0x06 else (i + 1,)  # BPF_RET ends; the rest fall through
    if code == _JA:
        return (i + 1 + k,)
    return (i + 1 + jt, i + 1 + jf)


def shorten(program: bytes) -> bytes:
    """``program`` (struct sock_filter[]) with each run of consecutive-number equality tests
    sharing a target as one range test; ``program`` itself when there is nothing to gain or
    anything unexpected."""
    if len(program) % _INSN.size:
        return program
    insns = [_INSN.unpack_from(program, off) for off in range(0, len(program), _INSN.size)]
    # Instructions reached from anywhere but the one right before them: a run may start at
    # one, never go on through one.
    entered: set[int] = set()
    for i, insn in enumerate(insns):
        entered.update(t for t in _targets(i, *insn) if t != i + 1)
    runs: dict[int, int] = {}  # first index -> last index of a run
    i = 0
    while i < len(insns):
        end = i
        code, jt, jf, k = insns[i]
        if code == _JEQ_K and jf == 0:
            target = i + 1 + jt
            while end + 1 < len(insns) and end + 1 not in entered:
                ncode, njt, njf, nk = insns[end + 1]
                if ncode != _JEQ_K or njf != 0 or end + 2 + njt != target or nk != insns[end][3] + 1:
                    break
                end += 1
            if target <= end:
                end = i  # a run must jump past itself
        if end - i + 1 >= _MIN_RUN:
            runs[i] = end
        i = end + 1
    if not runs:
        return program
    # New index of each kept instruction (a run keeps its first two slots).
    new_index: dict[int, int] = {}
    n = 0
    i = 0
    while i < len(insns):
        new_index[i] = n
        if i in runs:
            n += 2
            i = runs[i] + 1
        else:
            n += 1
            i += 1
    new_index[len(insns)] = n

    def offset(src_new: int, target_old: int) -> int:
        return new_index[target_old] - src_new - 1

    out: list[tuple[int, int, int, int]] = []
    i = 0
    while i < len(insns):
        code, jt, jf, k = insns[i]
        here = new_index[i]
        if i in runs:
            last = runs[i]
            after, target = last + 1, i + 1 + jt
            # A >= first: go on to the upper bound; below it: on past the run.
            out.append((_JGE_K, 0, offset(here, after), k))
            # A > last: on past the run; else the run's target.
            out.append((_JGT_K, offset(here + 1, after), offset(here + 1, target), insns[last][3]))
            i = last + 1
            continue
        if code & 0x07 == _JMP:
            if code == _JA:
                out.append((code, 0, 0, offset(here, i + 1 + k)))
            else:
                out.append((code, offset(here, i + 1 + jt), offset(here, i + 1 + jf), k))
        else:
            out.append((code, jt, jf, k))
        i += 1
    if any(not (0 <= jt <= 255 and 0 <= jf <= 255) for _, jt, jf, _ in out):
        return program
    return b"".join(_INSN.pack(*insn) for insn in out)
