"""``docker import --change`` / ``docker commit --change``: Dockerfile-like lines applied to an
image's container config.

Owns parsing CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, WORKDIR, VOLUME, STOPSIGNAL and
ONBUILD lines (exec/JSON and shell forms) into the Docker config shape. Pure: no I/O. It must
not run anything (RUN, COPY, ... are rejected as Docker rejects them).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from typing import Any

from berth.errors import InvalidArgument

__all__ = ["apply_changes"]

Config = dict[str, Any]


def _json_or_shell(args: str) -> list[str]:
    text = args.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return ["/bin/sh", "-c", text]


def _words(args: str) -> list[str]:
    try:
        return shlex.split(args)
    except ValueError as e:
        raise InvalidArgument(f"invalid change line argument {args!r}: {e}") from e


def _pairs(instr: str, args: str, legacy_space_form: bool) -> list[tuple[str, str]]:
    words = _words(args)
    if not words:
        raise InvalidArgument(f"{instr} requires at least one argument")
    if "=" not in words[0] and legacy_space_form:
        # "ENV KEY value with spaces": the old one-pair form.
        key, _, value = args.strip().partition(" ")
        return [(key, " ".join(_words(value)) if value.strip() else "")]
    out = []
    for w in words:
        key, eq, value = w.partition("=")
        if not eq or not key:
            raise InvalidArgument(f"{instr} names must be of the form KEY=value, got {w!r}")
        out.append((key, value))
    return out


def _env(cfg: Config, args: str) -> None:
    env: list[str] = list(cfg.get("Env") or [])
    for key, value in _pairs("ENV", args, legacy_space_form=True):
        env = [e for e in env if e.partition("=")[0] != key] + [f"{key}={value}"]
    cfg["Env"] = env


def _label(cfg: Config, args: str) -> None:
    labels: dict[str, str] = dict(cfg.get("Labels") or {})
    labels.update(_pairs("LABEL", args, legacy_space_form=True))
    cfg["Labels"] = labels


def _expose(cfg: Config, args: str) -> None:
    ports: dict[str, Any] = dict(cfg.get("ExposedPorts") or {})
    for p in _words(args):
        port, _, proto = p.partition("/")
        if not port.isdigit() or proto not in ("", "tcp", "udp", "sctp"):
            raise InvalidArgument(f"invalid port specification: {p!r}")
        ports[f"{port}/{proto or 'tcp'}"] = {}
    cfg["ExposedPorts"] = ports


def _volume(cfg: Config, args: str) -> None:
    text = args.strip()
    paths: list[str]
    if text.startswith("["):
        try:
            paths = [str(v) for v in json.loads(text)]
        except (json.JSONDecodeError, TypeError) as e:
            raise InvalidArgument(f"invalid VOLUME {text!r}") from e
    else:
        paths = _words(text)
    vols: dict[str, Any] = dict(cfg.get("Volumes") or {})
    for p in paths:
        vols[p] = {}
    cfg["Volumes"] = vols


def _single(key: str) -> Callable[[Config, str], None]:
    def apply(cfg: Config, args: str) -> None:
        cfg[key] = args.strip()
    return apply


def _cmd(key: str) -> Callable[[Config, str], None]:
    def apply(cfg: Config, args: str) -> None:
        cfg[key] = _json_or_shell(args)
    return apply


def _onbuild(cfg: Config, args: str) -> None:
    cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), args.strip()]


_HANDLERS: dict[str, Callable[[Config, str], None]] = {
    "CMD": _cmd("Cmd"),
    "ENTRYPOINT": _cmd("Entrypoint"),
    "ENV": _env,
    "EXPOSE": _expose,
    "LABEL": _label,
    "ONBUILD": _onbuild,
    "STOPSIGNAL": _single("StopSignal"),
    "USER": _single("User"),
    "VOLUME": _volume,
    "WORKDIR": _single("WorkingDir"),
}


def apply_changes(config: Config, changes: list[str]) -> Config:
    """A copy of ``config`` with each change line applied in order."""
    cfg = json.loads(json.dumps(config))
    for line in changes:
        for part in line.splitlines():
            text = part.strip()
            if not text or text.startswith("#"):
                continue
            instr, _, args = text.partition(" ")
            handler = _HANDLERS.get(instr.upper())
            if handler is None:
                raise InvalidArgument(f"{instr.upper()} is not a valid change command")
            handler(cfg, args)
    result: Config = cfg
    return result
