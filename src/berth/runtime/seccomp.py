"""The OCI ``linux.seccomp`` object -> rules -> a BPF program, and installing it.

``compile_rules`` is pure (spec -> frozen :class:`Rules`); ``build_program`` asks libseccomp to
turn the rules into classic BPF in the caller, before any fork (``program_for`` with a cache
directory first looks the program up in berth.runtime.bpfcache, under the runtime's state root
by default: ``cache_dir``); ``install`` runs in the
container's process and is a single prctl, so nothing but execve follows it when
no_new_privs is set. Without no_new_privs the kernel demands CAP_SYS_ADMIN to install a
filter, so the init installs it while still privileged, before dropping to the user (runc's
order); the rules must then allow the few calls that follow (Docker's default does).

Semantics follow runc: a rule whose action equals the default is dropped (libseccomp refuses
it), names this architecture lacks are skipped, ``SCMP_ACT_ERRNO`` without ``errnoRet``
means EPERM, and several conditions on the same argument index become one rule each (OR),
since libseccomp cannot AND two comparisons of one argument.
"""

from __future__ import annotations

import os

from berth.errors import RuntimeFailure
from berth.record import Record
from berth.runtime import _sys, bpfcache, bpfranges

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Final

__all__ = ["CacheKeys", "Condition", "Rule", "Rules", "build_program", "cache_dir", "cache_keys",
           "compile_rules", "install", "install_listener", "program_for"]

# How many seccomp objects ``CacheKeys`` remembers the key of (Docker's default, a few others).
_KNOWN: Final = 4
# "@" is not allowed in a container ID, so no container's state dir can take this name.
_CACHE_DIR: Final = "@seccomp"

_EPERM: Final = 1
_ACTIONS: Final = {"SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000,
                   "SCMP_ACT_KILL_PROCESS": 0x80000000, "SCMP_ACT_TRAP": 0x00030000,
                   "SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7FF00000,
                   "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_ALLOW": 0x7FFF0000,
                   "SCMP_ACT_NOTIFY": 0x7FC00000}
_OPERATORS: Final = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
                     "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}


class Condition(Record):
    index: int
    op: int
    value: int
    value_two: int = 0


class Rule(Record):
    name: str
    action: int
    conditions: tuple[Condition, ...] = ()


class Rules(Record):
    """A whole filter: default action, extra architectures (libseccomp names), rules in order."""

    default_action: int
    architectures: tuple[str, ...]
    rules: tuple[Rule, ...]


def _action(name: Any, errno: Any) -> int:
    if name not in _ACTIONS:
        raise RuntimeFailure(f"seccomp: unsupported action {name!r}")
    code: int = _ACTIONS[name]
    if name in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        code |= (int(errno) if errno is not None else (_EPERM if name == "SCMP_ACT_ERRNO" else 0)) & 0xFFFF
    return code


def _arch_name(oci: str) -> str:
    # SCMP_ARCH_X86_64 -> x86_64, SCMP_ARCH_AARCH64 -> aarch64: libseccomp's own names.
    return oci.removeprefix("SCMP_ARCH_").lower()


def compile_rules(seccomp: Mapping[str, Any]) -> Rules:
    """Pure: the spec's seccomp object as rules, checked (RuntimeFailure on bad input)."""
    if seccomp.get("defaultAction") == "SCMP_ACT_NOTIFY":
        # runc's refusal and wording: every call would wait on the agent, even its own.
        raise RuntimeFailure("seccomp: SCMP_ACT_NOTIFY cannot be used as default action")
    default = _action(seccomp.get("defaultAction"), seccomp.get("defaultErrnoRet"))
    rules: list[Rule] = []
    for call in seccomp.get("syscalls") or []:
        action = _action(call.get("action"), call.get("errnoRet"))
        if action == default:
            continue
        conds: list[Condition] = []
        for a in call.get("args") or []:
            op = _OPERATORS.get(a.get("op"))
            if op is None:
                raise RuntimeFailure(f"seccomp: unsupported operator {a.get('op')!r}")
            conds.append(Condition(int(a.get("index", 0)), op, int(a.get("value", 0)),
                                   int(a.get("valueTwo", 0))))
        indexes = [c.index for c in conds]
        groups = [(c,) for c in conds] if len(set(indexes)) < len(indexes) else [tuple(conds)]
        for name in call.get("names") or []:
            rules += [Rule(str(name), action, group) for group in groups]
    arches = tuple(_arch_name(str(a)) for a in seccomp.get("architectures") or [])
    return Rules(default, arches, tuple(rules))


def build_program(rules: Rules) -> bytes:
    """Classic BPF (struct sock_filter[]) for ``rules``, built by libseccomp, its chains of
    equality tests made search trees (berth.runtime.bpfranges: Docker's default profile
    988 -> 336 instructions; its install 1.7 -> 0.65 ms)."""
    # On use: the bindings import ctypes (~2.5 ms), which a spec without seccomp never needs.
    from berth.runtime import _libseccomp

    try:
        with _libseccomp.Filter(rules.default_action) as f:
            for arch in rules.architectures:
                token = f.arch_token(arch)
                if not token:
                    raise RuntimeFailure(f"seccomp: unknown architecture {arch!r}")
                f.add_arch(token)
            for rule in rules.rules:
                number = f.syscall_number(rule.name)
                if number == _libseccomp.NR_UNKNOWN:
                    continue
                args = [_libseccomp.ArgCmp(c.index, c.op, c.value, c.value_two)
                        for c in rule.conditions]
                f.add_rule(rule.action, number, args)
            return bpfranges.shorten(f.export_bpf())
    except OSError as exc:
        raise RuntimeFailure(f"seccomp: {exc.strerror or exc}") from exc


class CacheKeys(Record):
    """What the program cache's key takes from the host, found once by a long-lived caller (the
    shim factory) and handed to each create, so that a create opens no libseccomp to ask its
    version: the machine, libseccomp's version (with bpfranges' format: programs cached
    before it are not taken for its output), and the keys of a few seccomp objects seen
    before (Docker's default profile, warmed at berthd's start: no dump and hash of it then).
    """

    machine: str
    library: str
    known: tuple[tuple[Mapping[str, Any], str], ...] = ()

    def key(self, seccomp: Mapping[str, Any]) -> str:
        for obj, key in self.known:
            # Values equal in Python compile alike (numbers go through int()), so an object
            # equal to a known one has its program.
            if obj == seccomp:
                return key
        return bpfcache.key_for(seccomp, self.machine, self.library)

    def knowing(self, seccomp: Mapping[str, Any]) -> CacheKeys:
        """These keys and ``seccomp``'s, most recent first (the oldest forgotten)."""
        rest = tuple(pair for pair in self.known if pair[0] != seccomp)
        return CacheKeys(self.machine, self.library,
                         ((seccomp, self.key(seccomp)), *rest)[:_KNOWN])


def cache_keys() -> CacheKeys:
    """This host's :class:`CacheKeys` (RuntimeFailure when libseccomp cannot be asked)."""
    from berth.runtime import _libseccomp

    try:
        return CacheKeys(os.uname().machine, f"{_libseccomp.version()}+{bpfranges.FORMAT}")
    except OSError as exc:
        raise RuntimeFailure(f"seccomp: {exc.strerror or exc}") from exc


def cache_dir(state_root: str | os.PathLike[str]) -> str:
    """Where the runtime keeping its state under ``state_root`` caches compiled programs."""
    return os.path.join(state_root, _CACHE_DIR)


def program_for(linux: Mapping[str, Any], cache: str | os.PathLike[str] | None = None,
                keys: CacheKeys | None = None) -> bytes | None:
    """The BPF program for a spec's ``linux`` section, or None when it has no seccomp.

    With ``cache`` (a directory), a program compiled before for the same seccomp object is
    read back instead of asking libseccomp again; a fresh compile is stored there. ``keys``:
    this host's :func:`cache_keys`, when the caller has them already.
    """
    seccomp = linux.get("seccomp")
    if not seccomp:
        return None
    if cache is None:
        return build_program(compile_rules(seccomp))
    key = (keys or cache_keys()).key(seccomp)
    return bpfcache.cached_program(cache, key, lambda: build_program(compile_rules(seccomp)))


def install(program: bytes) -> None:
    """Install ``program`` on the calling thread (inherited by children and kept over exec)."""
    try:
        _sys.seccomp_install(program)
    except OSError as exc:
        raise RuntimeFailure(f"seccomp: load filter: {exc.strerror}") from exc


def install_listener(program: bytes) -> int:
    """Install a program with SCMP_ACT_NOTIFY rules; the notify fd for ``listenerPath``."""
    try:
        return _sys.seccomp_install_listener(program)
    except OSError as exc:
        raise RuntimeFailure(f"seccomp: load filter: {exc.strerror}") from exc
