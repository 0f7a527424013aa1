"""Shortening libseccomp's classic BPF: its chains of equality tests become search trees.

libseccomp compiles an allowlist such as Docker's default profile into one ``A == k`` test per
system call, in number order: ~960 of its ~990 instructions. The kernel's cost of installing
a filter grows with its length (checking it, converting it to eBPF, JIT-compiling it) and
with the length of its paths (it runs the filter once for every system call number of each
architecture to fill its action cache), and so does every system call the cache cannot
answer in the container afterwards.

A chain is a sequence of ``A == k`` tests in which each miss goes straight to the next test
and nothing enters the chain but at its first test; it decides "the target of the first
test that A equals, else the chain's exit". Its values, sorted and merged into intervals that
share a target, are laid out as a balanced tree of range tests (``A >= v``) instead: Docker's
default 988 -> 336 instructions, and at most ~2 log2(n) + 2 tests on a path instead of
hundreds. Every other jump of the program is re-aimed to where its target went.

The result is the same function of its input for every input. A chain whose tree would not
be shorter is left as it is; a program whose jumps would no longer fit their 8-bit offsets is
left as libseccomp made it. Owns nothing but this rewrite.
"""

from __future__ import annotations

import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

    # (code, jt, jf, k) as struct sock_filter has them
    _Insn = tuple[int, int, int, int]
    # Where a jump goes before relocation: (_OLD, index in the input) or (_NEW, position out)
    _Label = tuple[int, int]
    # An instruction being laid out: jt, jf and (for BPF_JA) k may still be labels
    _Out = list[int | _Label]
    # A chain: its tests' indexes, its exit, and (first, last, target) intervals, sorted
    _Chain = tuple[list[int], int, list[tuple[int, int, int]]]

__all__ = ["FORMAT", "shorten"]

# Names this rewrite in the program cache's key (seccomp.CacheKeys): a change to what it
# produces must change this.
FORMAT: Final = "tree1"

_INSN: Final = struct.Struct("=HBBI")  # struct sock_filter: code, jt, jf, k
_JMP: Final = 0x05
_RET: Final = 0x06
_JA: Final = 0x05 | 0x00  # BPF_JMP | BPF_JA
_JEQ_K: Final = 0x05 | 0x10  # BPF_JMP | BPF_JEQ | BPF_K
_JGT_K: Final = 0x05 | 0x20
_JGE_K: Final = 0x05 | 0x30
_MAX_K: Final = 0xFFFFFFFF
_OLD: Final = 0
_NEW: Final = 1


def shorten(program: bytes) -> bytes:
    """``program`` (struct sock_filter[]) with its chains of equality tests as search trees;
    ``program`` itself when that gains nothing or anything is unexpected."""
    if not program or len(program) % _INSN.size:
        return program
    insns: list[_Insn] = [_INSN.unpack_from(program, off)
                          for off in range(0, len(program), _INSN.size)]
    chains = _chains(insns, _sources(insns))
    out = _lay_out(insns, chains) if chains else None
    if out is None:
        return program
    return b"".join(_INSN.pack(*insn) for insn in out)


def _targets(i: int, insn: _Insn) -> tuple[int, ...]:
    """Where instruction ``i`` may go next, as absolute indexes (none for a return)."""
    code, jt, jf, k = insn
    if code & 0x07 != _JMP:
        return () if code & 0x07 == _RET else (i + 1,)
    if code == _JA:
        return (i + 1 + k,)
    return (i + 1 + jt, i + 1 + jf)


def _sources(insns: list[_Insn]) -> list[set[int]]:
    """For each index, the instructions that may go there (by a jump or by falling through)."""
    sources: list[set[int]] = [set() for _ in range(len(insns) + 1)]
    for i, insn in enumerate(insns):
        for target in _targets(i, insn):
            if target <= len(insns):
                sources[target].add(i)
    return sources


def _intervals(pairs: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """(value, target) pairs, first one per value winning, as sorted merged intervals."""
    first: dict[int, int] = {}
    for value, target in pairs:
        first.setdefault(value, target)
    merged: list[list[int]] = []
    for value in sorted(first):
        if merged and merged[-1][1] + 1 == value and merged[-1][2] == first[value]:
            merged[-1][1] = value
        else:
            merged.append([value, value, first[value]])
    return [(lo, hi, target) for lo, hi, target in merged]


def _chains(insns: list[_Insn], sources: list[set[int]]) -> dict[int, _Chain]:
    """The chains worth a tree, by the index of their first test."""
    chains: dict[int, _Chain] = {}
    taken: set[int] = set()
    for i, insn in enumerate(insns):
        if i in taken or insn[0] != _JEQ_K:
            continue
        members = [i]
        while True:
            last = members[-1]
            miss = last + 1 + insns[last][2]
            if (miss >= len(insns) or insns[miss][0] != _JEQ_K or sources[miss] != {last}
                    or miss in taken):
                break
            members.append(miss)
        exit_ = members[-1] + 1 + insns[members[-1]][2]
        intervals = _intervals([(insns[m][3], m + 1 + insns[m][1]) for m in members])
        if _tree_size(len(intervals)) >= len(members):
            continue
        chains[i] = (members, exit_, intervals)
        taken.update(members)
    return chains


def _tree_size(n: int) -> int:
    """Instructions a tree over ``n`` intervals may take: a split each, two tests a leaf."""
    return 3 * n - 1


def _lay_out(insns: list[_Insn], chains: dict[int, _Chain]) -> list[_Insn] | None:
    """The program with each chain's tests replaced by its tree (at its first test's place),
    every jump re-aimed; None when a jump no longer fits."""
    removed = {m for members, _, _ in chains.values() for m in members}
    out: list[_Out] = []
    new_index: dict[int, int] = {}
    for i, insn in enumerate(insns):
        if i in chains:
            new_index[i] = len(out)
            _, exit_, intervals = chains[i]
            _tree(out, intervals, 0, _MAX_K, exit_)
        elif i not in removed:
            new_index[i] = len(out)
            code, jt, jf, k = insn
            if code == _JA:
                out.append([code, 0, 0, (_OLD, i + 1 + k)])
            elif code & 0x07 == _JMP:
                out.append([code, (_OLD, i + 1 + jt), (_OLD, i + 1 + jf), k])
            else:
                out.append([code, jt, jf, k])
    new_index[len(insns)] = len(out)
    result: list[_Insn] = []
    for here, (out_code, out_jt, out_jf, out_k) in enumerate(out):
        offsets: list[int] = []
        for field in (out_jt, out_jf, out_k):
            if isinstance(field, tuple):
                kind, where = field
                if kind == _OLD and where not in new_index:
                    return None  # a jump into a chain: cannot happen, by _sources
                offsets.append((new_index[where] if kind == _OLD else where) - here - 1)
            else:
                offsets.append(field)
        njt, njf, nk = offsets
        if not (0 <= njt <= 255 and 0 <= njf <= 255 and 0 <= nk <= _MAX_K):
            return None
        assert isinstance(out_code, int)
        result.append((out_code, njt, njf, nk))
    return result


def _tree(out: list[_Out], intervals: list[tuple[int, int, int]], low: int, high: int,
          exit_: int) -> None:
    """Append the tests sending A in ``low``..``high`` (what the path so far proved) to the
    target of the interval holding it, else to ``exit_``."""
    exit_label: _Label = (_OLD, exit_)
    if not intervals:
        out.append([_JA, 0, 0, exit_label])
        return
    if len(intervals) == 1:
        first, last, target = intervals[0]
        hit: _Label = (_OLD, target)
        if first > low and last < high:
            out.append([_JGE_K, (_NEW, len(out) + 1), exit_label, first])
            out.append([_JGT_K, exit_label, hit, last])
        elif first > low:
            out.append([_JGE_K, hit, exit_label, first])
        elif last < high:
            out.append([_JGT_K, exit_label, hit, last])
        else:
            out.append([_JA, 0, 0, hit])
        return
    mid = len(intervals) // 2
    split = intervals[mid][0]
    node: _Out = [_JGE_K, 0, (_NEW, len(out) + 1), split]
    out.append(node)
    _tree(out, intervals[:mid], low, split - 1, exit_)  # A < split: right after the test
    node[1] = (_NEW, len(out))
    _tree(out, intervals[mid:], split, high, exit_)
