"""Metadata-only Dockerfile steps: how each changes the image config, and its history text.

Owns ENV, LABEL, EXPOSE, CMD, ENTRYPOINT, USER, VOLUME, STOPSIGNAL, HEALTHCHECK, ONBUILD,
SHELL, MAINTAINER and ARG's record, applied to the image config's ``config`` object
(Docker's container Config keys), and the ``CREATED BY`` text Docker's classic builder
writes (``/bin/sh -c #(nop)  ENV A=b``). Arguments arrive already substituted. Pure.
"""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Sequence
from typing import Any

from berth.errors import InvalidArgument

__all__ = ["apply_metadata", "go_quote_list", "nop", "parse_duration_ns", "set_env"]

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
          "m": 60_000_000_000, "h": 3_600_000_000_000}


def go_quote_list(items: Sequence[str]) -> str:
    """Go's ``%q`` of a []string: ``["sh" "-c" "echo hi"]``."""
    return "[" + " ".join(json.dumps(i, ensure_ascii=False) for i in items) + "]"


def nop(shell: Sequence[str], text: str) -> str:
    """History text of a metadata step: ``/bin/sh -c #(nop)  <text>``."""
    return " ".join(shell) + " #(nop)  " + text


def parse_duration_ns(text: str) -> int:
    """A Go duration (``30s``, ``1m30s``, ``500ms``) in nanoseconds."""
    if text == "0":
        return 0
    pos = 0
    total = 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise InvalidArgument(f'time: invalid duration "{text}"')
    return int(total)


def set_env(env: list[str], key: str, value: str) -> list[str]:
    out = [e for e in env if e.partition("=")[0] != key]
    # Docker replaces an existing key in place, keeping the order of the others.
    for i, e in enumerate(env):
        if e.partition("=")[0] == key:
            out = [*env[:i], f"{key}={value}", *env[i + 1:]]
            return out
    return [*out, f"{key}={value}"]


def _pairs(args: Sequence[str]) -> list[tuple[str, str]]:
    return [(args[i], args[i + 1]) for i in range(0, len(args) - 1, 2)]


def _healthcheck(args: Sequence[str], flags: dict[str, str], exec_form: bool,
                 shell: Sequence[str]) -> dict[str, Any]:
    if args[0] == "NONE":
        return {"Test": ["NONE"]}
    cmd = list(args[1:])
    test = ["CMD", *cmd] if exec_form else ["CMD-SHELL", cmd[0]]
    hc: dict[str, Any] = {"Test": test}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"),
                      ("start-period", "StartPeriod"), ("start-interval", "StartInterval")):
        if flags.get(flag):
            value = parse_duration_ns(flags[flag])
            if 0 < value < 1_000_000:  # Docker refuses durations under 1ms
                raise InvalidArgument(f"Interval \"{flag}\" cannot be less than 1ms")
            hc[key] = value
    if flags.get("retries"):
        try:
            retries = int(flags["retries"])
        except ValueError as e:
            raise InvalidArgument(f"invalid retries value: {flags['retries']}") from e
        if retries < 0:
            raise InvalidArgument("--retries cannot be negative")
        hc["Retries"] = retries
    return hc


def _command(args: Sequence[str], exec_form: bool, shell: Sequence[str]) -> list[str]:
    if exec_form:
        return list(args)
    return [*shell, args[0]] if args else []


def apply_metadata(cmd: str, args: Sequence[str], config: dict[str, Any], *, exec_form: bool = False,
                   flags: dict[str, str] | None = None, shell: Sequence[str] = ("/bin/sh", "-c"),
                   cmd_set: bool = False) -> str:
    """Apply one metadata instruction to ``config`` in place; returns its history text.

    ``cmd_set``: this stage already has a CMD of its own (an ENTRYPOINT keeps it then).
    """
    flags = flags or {}
    if cmd == "env":
        env = list(config.get("Env") or [])
        pairs = _pairs(args)
        for k, v in pairs:
            env = set_env(env, k, v)
        config["Env"] = env
        return nop(shell, "ENV " + " ".join(f"{k}={v}" for k, v in pairs))
    if cmd == "label":
        labels = dict(config.get("Labels") or {})
        pairs = _pairs(args)
        labels.update(pairs)
        config["Labels"] = labels
        return nop(shell, "LABEL " + " ".join(f"{k}={v}" for k, v in pairs))
    if cmd == "expose":
        ports = dict(config.get("ExposedPorts") or {})
        new = []
        for spec in args:
            port, _, proto = spec.partition("/")
            proto = (proto or "tcp").lower()
            lo, _, hi = port.partition("-")
            if not lo.isdigit() or (hi and not hi.isdigit()) or proto not in ("tcp", "udp", "sctp"):
                raise InvalidArgument(f"invalid containerPort: {port}")
            for p in range(int(lo), int(hi or lo) + 1):
                ports[f"{p}/{proto}"] = {}
                new.append(f"{p}/{proto}")
        config["ExposedPorts"] = ports
        return nop(shell, "EXPOSE " + " ".join(sorted(set(new))))
    if cmd in ("cmd", "entrypoint"):
        value = _command(args, exec_form, shell)
        if cmd == "cmd":
            config["Cmd"] = value
        else:
            config["Entrypoint"] = value
            # An ENTRYPOINT resets a CMD inherited from the base image (Docker's rule).
            if not cmd_set:
                config["Cmd"] = None
        return nop(shell, f"{cmd.upper()} {go_quote_list(value)}")
    if cmd == "user":
        config["User"] = args[0]
        return nop(shell, f"USER {args[0]}")
    if cmd == "volume":
        vols = dict(config.get("Volumes") or {})
        for v in args:
            if not v.strip():
                raise InvalidArgument("VOLUME specified can not be an empty string")
            vols[v] = {}
        config["Volumes"] = vols
        return nop(shell, "VOLUME " + go_quote_list(args))
    if cmd == "stopsignal":
        sig = args[0]
        name = sig.upper()
        if not name.isdigit():
            name = name if name.startswith("SIG") else "SIG" + name
            if name not in signal.Signals.__members__ and not name.startswith("SIGRTM"):
                raise InvalidArgument(f"Invalid signal: {sig}")
        config["StopSignal"] = sig
        return nop(shell, f"STOPSIGNAL {sig}")
    if cmd == "healthcheck":
        hc = _healthcheck(args, flags, exec_form, shell)
        config["Healthcheck"] = hc
        return nop(shell, "HEALTHCHECK &{" + go_quote_list(hc["Test"]) + "}")
    if cmd == "onbuild":
        triggers = [*(config.get("OnBuild") or []), args[0]]
        config["OnBuild"] = triggers
        return nop(shell, "ONBUILD " + args[0])
    if cmd == "shell":
        config["Shell"] = list(args)
        return nop(shell, "SHELL " + go_quote_list(args))
    if cmd == "maintainer":
        return nop(shell, "MAINTAINER " + args[0])
    if cmd == "arg":
        return nop(shell, "ARG " + args[0])
    raise InvalidArgument(f"not a metadata instruction: {cmd}")
