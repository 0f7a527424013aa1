"""``run``/``create`` flags for namespaces, links, security, devices, sysctls and logging:
--link, --ipc, --pid, --uts, --userns, --cgroupns, --security-opt, --group-add, --device,
--device-cgroup-rule, --sysctl, --oom-score-adj, --runtime, --log-driver, --log-opt.

Owns their parsing into HostConfig the way the docker CLI does it, with its client-side checks
and messages (modes that only the daemon can judge, such as ``--ipc bogus``, go to the daemon).
Reads a seccomp profile file, as the docker CLI sends the profile's content, not its path.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from berth.cli.context import UsageError

__all__ = ["add_flags", "apply_flags"]

# The docker CLI's own allowlist (opts.ValidateSysctl): the namespaced sysctls.
_SYSCTL_NAMES: Final = frozenset({"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                                  "kernel.shmall", "kernel.shmmax", "kernel.shmmni",
                                  "kernel.shm_rmid_forced"})
_SYSCTL_PREFIXES: Final = ("fs.mqueue.", "net.")
_CGROUP_RULE: Final = re.compile(r"^[acb] ([0-9]+|\*):([0-9]+|\*) [rwm]{1,3}$")


def add_flags(add: Callable[..., Any]) -> None:
    add("--link", action="append", default=[])
    add("--ipc", default="")
    add("--pid", default="")
    add("--uts", default="")
    add("--userns", default="")
    add("--cgroupns", default="")
    add("--security-opt", action="append", default=[])
    add("--group-add", action="append", default=[])
    add("--device", action="append", default=[])
    add("--device-cgroup-rule", action="append", default=[])
    add("--sysctl", action="append", default=[])
    add("--oom-score-adj", default="0")
    add("--runtime", default="")
    add("--log-driver", default="")
    add("--log-opt", action="append", default=[])


def _invalid(value: str, flag: str, why: str) -> UsageError:
    return UsageError(f'invalid argument "{value}" for "{flag}" flag: {why}')


def _link(spec: str) -> str:
    if not spec:
        raise _invalid(spec, "--link", "empty string specified for links")
    parts = spec.split(":")
    if len(parts) > 2 or not parts[0] or (len(parts) == 2 and not parts[1]):
        raise _invalid(spec, "--link", f"bad format for links: {spec}")
    return spec


def _container_or(value: str, allowed: tuple[str, ...], flag: str, what: str) -> str:
    """--pid/--uts/--userns/--cgroupns: docker checks these modes itself (not --ipc)."""
    if value in allowed or (flag == "--pid" and value.startswith("container:")
                            and value != "container:"):
        return value
    raise UsageError(f"{flag}: invalid {what} mode")


def _security_opt(opt: str) -> str:
    key, sep, value = opt.partition("=")
    if not sep:
        key, sep, value = opt.partition(":")
    if opt == "no-new-privileges":
        return opt
    if not sep:
        raise UsageError(f'Invalid --security-opt: "{opt}"')
    if key == "seccomp" and value != "unconfined":
        # The docker CLI sends the profile itself: the daemon may not see the client's files.
        try:
            text = Path(value).read_text()
        except OSError as exc:
            why = (exc.strerror or str(exc)).lower()
            raise UsageError(f"opening seccomp profile ({value}) failed: open {value}: {why}") from exc
        try:
            # Compacted like the docker CLI's json.Compact, key order kept.
            profile = json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
        except ValueError as exc:
            raise UsageError(f"compacting json for seccomp profile ({value}) failed: {exc}") from exc
        return f"seccomp={profile}"
    return opt


def _device(spec: str) -> dict[str, str]:
    """``host[:container][:perms]`` -> an API DeviceMapping (opts.ParseDevice)."""
    parts = spec.split(":")
    perms = "rwm"
    if len(parts) == 3:
        host, inner, perms = parts
    elif len(parts) == 2:
        host, inner = parts
        if inner and not inner.startswith("/") and set(inner) <= set("rwm"):
            inner, perms = host, parts[1]
    elif len(parts) == 1:
        host = inner = parts[0]
    else:
        raise UsageError(f"invalid device specification: {spec}")
    if not perms or not set(perms) <= set("rwm"):
        raise UsageError(f"bad mode specified: {perms}")
    for path in (host, inner):
        if not path.startswith("/"):
            raise UsageError(f"{path} is not an absolute path")
    return {"PathOnHost": host, "PathInContainer": inner, "CgroupPermissions": perms}


def _sysctl(spec: str) -> tuple[str, str]:
    key, _, value = spec.partition("=")
    if key not in _SYSCTL_NAMES and not key.startswith(_SYSCTL_PREFIXES):
        raise _invalid(spec, "--sysctl", f"sysctl '{spec}' is not allowed")
    return key, value


def _oom_score_adj(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise _invalid(text, "--oom-score-adj", f'strconv.ParseInt: parsing "{text}": '
                       "invalid syntax") from None


def apply_flags(ns: argparse.Namespace, body: dict[str, Any]) -> None:
    """Fill HostConfig from the parsed flags, with docker's field placement and encodings."""
    hc = body["HostConfig"]
    if ns.link:
        hc["Links"] = [_link(s) for s in ns.link]
    hc["IpcMode"] = ns.ipc
    hc["PidMode"] = _container_or(ns.pid, ("", "host"), "--pid", "PID")
    hc["UTSMode"] = _container_or(ns.uts, ("", "host"), "--uts", "UTS")
    hc["UsernsMode"] = _container_or(ns.userns, ("", "host"), "--userns", "USER")
    hc["CgroupnsMode"] = _container_or(ns.cgroupns, ("", "host", "private"), "--cgroupns", "CGROUP")
    if ns.security_opt:
        opts = [_security_opt(o) for o in ns.security_opt]
        if "systempaths=unconfined" in opts:
            # The docker CLI turns this one into fields: no masked or read-only /proc paths.
            opts = [o for o in opts if o != "systempaths=unconfined"]
            hc["MaskedPaths"], hc["ReadonlyPaths"] = [], []
        hc["SecurityOpt"] = opts
    if ns.group_add:
        hc["GroupAdd"] = ns.group_add
    hc["Devices"] = [_device(d) for d in ns.device]
    for rule in ns.device_cgroup_rule:
        if not _CGROUP_RULE.match(rule):
            raise _invalid(rule, "--device-cgroup-rule", f"invalid device cgroup format '{rule}'")
    hc["DeviceCgroupRules"] = ns.device_cgroup_rule or None
    if ns.sysctl:
        hc["Sysctls"] = dict(_sysctl(s) for s in ns.sysctl)
    hc["OomScoreAdj"] = _oom_score_adj(ns.oom_score_adj)
    if ns.runtime:
        hc["Runtime"] = ns.runtime
    log_config: dict[str, str] = {}
    for opt in ns.log_opt:
        key, _, value = opt.partition("=")
        log_config[key] = value
    hc["LogConfig"] = {"Type": ns.log_driver, "Config": log_config}
