"""Docker seccomp profiles -> the OCI ``linux.seccomp`` of one container. Pure.

A profile in Docker's format (``defaultAction``, ``defaultErrnoRet``, ``archMap`` or
``architectures``, ``syscalls`` with ``names``/``name``, ``action``, ``errnoRet``, ``args``,
``includes``/``excludes`` on ``caps``, ``arches`` and ``minKernel``) is resolved against the
container's capabilities, the host architecture and kernel, as dockerd does before handing the
spec to the runtime; the runtime only sees plain rules. Bad profiles raise InvalidArgument with
dockerd's wording; nothing here touches the kernel.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from berth.errors import InvalidArgument
from berth.security.default_profile import default_profile

__all__ = ["ACTIONS", "OPERATORS", "SeccompChoice", "go_arch", "parse_choice", "to_oci"]

ACTIONS: Final = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
                  "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG")
OPERATORS: Final = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
                    "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ")
# uname -m -> Go's GOARCH, the vocabulary of ``includes.arches`` in Docker profiles.
_GO_ARCH: Final = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm",
                   "s390x": "s390x", "ppc64le": "ppc64le", "riscv64": "riscv64"}
_SCMP_ARCH: Final = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64", "386": "SCMP_ARCH_X86",
                     "arm": "SCMP_ARCH_ARM", "s390x": "SCMP_ARCH_S390X",
                     "ppc64le": "SCMP_ARCH_PPC64LE", "riscv64": "SCMP_ARCH_RISCV64"}


@dataclass(frozen=True)
class SeccompChoice:
    """What ``--security-opt seccomp=`` asked for: the default, none, or a profile's JSON."""

    unconfined: bool = False
    profile_json: str | None = None


def parse_choice(value: str) -> SeccompChoice:
    """``unconfined``, or the profile content the docker CLI read from the file."""
    if value == "unconfined":
        return SeccompChoice(unconfined=True)
    choice = SeccompChoice(profile_json=value)
    try:
        to_oci(choice, (), "x86_64", (0, 0))  # refuse a bad profile at create, before anything is stored
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidArgument(f"Decoding seccomp profile failed: {exc}") from exc
    return choice


def go_arch(machine: str) -> str:
    return _GO_ARCH.get(machine, machine)


def _load(text: str) -> dict[str, Any]:
    try:
        profile = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"Decoding seccomp profile failed: {exc}") from exc
    if not isinstance(profile, dict):
        raise InvalidArgument("Decoding seccomp profile failed: the profile is not a JSON object")
    return profile


def _kernel_at_least(kernel: tuple[int, int], wanted: str) -> bool:
    try:
        major, _, minor = wanted.partition(".")
        return kernel >= (int(major), int(minor or 0))
    except ValueError as exc:
        raise InvalidArgument(f"invalid minKernel {wanted!r} in seccomp profile") from exc


def _applies(call: Mapping[str, Any], caps: set[str], arch: str, kernel: tuple[int, int]) -> bool:
    inc = call.get("includes") or {}
    exc = call.get("excludes") or {}
    if inc.get("arches") and arch not in inc["arches"]:
        return False
    if inc.get("caps") and not all(c in caps for c in inc["caps"]):
        return False
    if inc.get("minKernel") and not _kernel_at_least(kernel, str(inc["minKernel"])):
        return False
    if exc.get("arches") and arch in exc["arches"]:
        return False
    if exc.get("caps") and any(c in caps for c in exc["caps"]):
        return False
    return not (exc.get("minKernel") and _kernel_at_least(kernel, str(exc["minKernel"])))


def _check_action(action: Any) -> str:
    if action not in ACTIONS:
        raise InvalidArgument(f"seccomp profile: unsupported action {action!r}")
    return str(action)


def _args(raw: Any) -> list[dict[str, Any]]:
    out = []
    for a in raw or []:
        if not isinstance(a, dict) or a.get("op") not in OPERATORS:
            raise InvalidArgument(f"seccomp profile: invalid argument rule {a!r}")
        index = a.get("index", 0)
        if not isinstance(index, int) or not 0 <= index <= 5:
            raise InvalidArgument(f"seccomp profile: argument index {index!r} out of range 0-5")
        out.append({"index": index, "value": int(a.get("value", 0)),
                    "valueTwo": int(a.get("valueTwo", 0)), "op": a["op"]})
    return out


def _architectures(profile: Mapping[str, Any], arch: str) -> list[str]:
    if profile.get("architectures"):
        return [str(a) for a in profile["architectures"]]
    main = _SCMP_ARCH.get(arch)
    for entry in profile.get("archMap") or []:
        if entry.get("architecture") == main:
            return [str(main), *(str(s) for s in entry.get("subArchitectures") or [])]
    return []


def to_oci(choice: SeccompChoice, capabilities: Sequence[str], machine: str,
           kernel: tuple[int, int]) -> dict[str, Any] | None:
    """The ``linux.seccomp`` object, or None when unconfined."""
    if choice.unconfined:
        return None
    profile = _load(choice.profile_json) if choice.profile_json is not None else default_profile()
    arch = go_arch(machine)
    caps = set(capabilities)
    syscalls: list[dict[str, Any]] = []
    for call in profile.get("syscalls") or []:
        if not isinstance(call, dict):
            raise InvalidArgument(f"seccomp profile: invalid syscall entry {call!r}")
        names = [str(n) for n in call.get("names") or []] or ([str(call["name"])] if call.get("name")
                                                                else [])
        if not names:
            raise InvalidArgument("seccomp profile: a syscall entry has no names")
        # Checked before the includes/excludes so a bad entry is refused on every host.
        rule: dict[str, Any] = {"names": names, "action": _check_action(call.get("action")),
                                "args": _args(call.get("args"))}
        if call.get("errnoRet") is not None:
            rule["errnoRet"] = int(call["errnoRet"])
        if _applies(call, caps, arch, kernel):
            syscalls.append(rule)
    out: dict[str, Any] = {"defaultAction": _check_action(profile.get("defaultAction")),
                           "architectures": _architectures(profile, arch), "syscalls": syscalls}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = int(profile["defaultErrnoRet"])
    return out
