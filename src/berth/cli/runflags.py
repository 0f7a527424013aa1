"""``run`` / ``create`` flags -> the Engine API create body, populated like the docker CLI's.

Owns flag definitions, their validation and conversion (env and label files, sizes, ulimits,
restart policies, detach keys, Go-style ``--flag=false`` booleans) and the refusal of docker
flags whose fields berthd does not implement. Pure apart from reading ``--env-file`` and
``--label-file`` files; must not call the daemon.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from berth.cli import endpointflags, healthflags, hostflags, netflags, resourceflags
from berth.cli.context import GoBool, UsageError, add_refused, check_refused, make_parser
from berth.cli.humanize import parse_ram_bytes
from berth.errors import BerthError
from berth.record import Record

__all__ = [
    "DEFAULT_DETACH_KEYS",
    "REFUSED_FLAGS",
    "RunOptions",
    "build_parser",
    "parse_detach_keys",
    "parse_restart",
    "parse_run_args",
]

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
# go-units' ulimit names (the docker CLI checks them).
_ULIMIT_NAMES = frozenset({"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
                           "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"})

# docker flags whose create-body fields berthd does not implement: refused, never dropped.
REFUSED_FLAGS: dict[str, str] = {
    "--annotation": "berthd does not pass annotations to the runtime",
    "--blkio-weight-device": "berthd sets no per-device blkio weights",
    "--cgroup-parent": "berthd places every container under its own cgroup parent",
    "--cpu-count": "it is a Windows-only option",
    "--cpu-percent": "it is a Windows-only option",
    "--cpu-rt-period": "berthd sets no real-time CPU limits",
    "--cpu-rt-runtime": "berthd sets no real-time CPU limits",
    "--device-read-bps": "berthd sets no per-device I/O limits",
    "--device-read-iops": "berthd sets no per-device I/O limits",
    "--device-write-bps": "berthd sets no per-device I/O limits",
    "--device-write-iops": "berthd sets no per-device I/O limits",
    "--domainname": "berthd does not set the container's NIS domain name",
    "--gpus": "berthd has no GPU device requests",
    "--health-start-interval": "berthd's health checks have no start interval",
    "--io-maxbandwidth": "it is a Windows-only option",
    "--io-maxiops": "it is a Windows-only option",
    "--ip6": "berthd's networks are IPv4 only",
    "--isolation": "it is a Windows-only option",
    "--kernel-memory": "kernel memory limits are gone from the kernel",
    "--link-local-ip": "berthd assigns no link-local addresses",
    "--platform": "berthd runs images of its own platform only",
    "--storage-opt": "berthd's snapshots take no per-container storage options",
    "--use-api-socket": "berth does not mount its API socket into containers",
    "--volume-driver": "berthd has only the local volume driver",
}
_REFUSED_BOOLS = frozenset({"--use-api-socket"})


def _bool(add: Callable[..., Any], short: str | None, long: str) -> None:
    add(*([short] if short else []), long, action=GoBool)


def build_parser(command: str) -> argparse.ArgumentParser:
    p = make_parser(command, f"{command.capitalize()} a new container", help_flag_h=False)
    add = p.add_argument
    if command == "run":
        _bool(add, "-d", "--detach")
        add("--sig-proxy", action=GoBool, default=True)
        add("--detach-keys")
    _bool(add, None, "--rm")
    _bool(add, "-i", "--interactive")
    _bool(add, "-t", "--tty")
    add("-a", "--attach", action="append", default=[])
    add("--name")
    add("-e", "--env", action="append", default=[])
    add("--env-file", action="append", default=[])
    add("-w", "--workdir")
    add("-u", "--user")
    add("-h", "--hostname")
    add("--entrypoint")
    add("-l", "--label", action="append", default=[])
    add("--label-file", action="append", default=[])
    add("-v", "--volume", action="append", default=[])
    add("--tmpfs", action="append", default=[])
    _bool(add, None, "--read-only")
    _bool(add, None, "--privileged")
    add("--cap-add", action="append", default=[])
    add("--cap-drop", action="append", default=[])
    add("-m", "--memory")
    add("--cpus")
    add("--pids-limit", default="0")
    add("--ulimit", action="append", default=[])
    add("--init", action=GoBool, default=None)
    add("--restart", default="no")
    add("--stop-signal")
    add("--stop-timeout")
    add("--cidfile", default="")
    add("--pull", default="missing", choices=["always", "missing", "never"])
    _bool(add, "-q", "--quiet")
    # No effect without DOCKER_CONTENT_TRUST, in docker too; accepted so scripts keep working.
    add("--disable-content-trust", action=GoBool, default=True)
    _bool(add, None, "--oom-kill-disable")
    _bool(add, None, "--no-healthcheck")
    add_refused(p, REFUSED_FLAGS, _REFUSED_BOOLS)
    netflags.add_flags(add)
    endpointflags.add_flags(add)
    hostflags.add_flags(add)
    resourceflags.add_flags(add)
    healthflags.add_flags(add)
    return p


def _split_at_image(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[list[str], list[str]]:
    """Options before the image, and image + command (docker stops flag parsing at the image)."""
    takes_value: dict[str, bool] = {}
    bools: set[str] = set()
    for action in parser._actions:
        for opt in action.option_strings:
            takes_value[opt] = action.nargs != 0
            if isinstance(action, GoBool):
                bools.add(opt)
    i = 0
    opts: list[str] = []
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return opts, argv[i + 1:]
        if not arg.startswith("-") or arg == "-":
            return opts, argv[i:]
        if arg.partition("=")[0] in bools:
            opts.append(arg)   # `--rm=false`, `-t=false`: the parser reads the value
            i += 1
            continue
        # Values are glued to their flag (`--name=-x`, `-e-x`): like pflag, the argument after
        # a value-taking flag is its value even when it starts with a dash.
        if arg.startswith("--"):
            if "=" not in arg and takes_value.get(arg, False) and i + 1 < len(argv):
                arg = f"{arg}={argv[i + 1]}"
                i += 1
        else:
            # -abc: flags cluster; the first one taking a value takes the rest of the cluster
            # (pflag: `-e=x` is x) or the next argument, which is glued on with `=` so that
            # argparse keeps a leading `=` or `-` of the value (`-e =bad`, `-e -x`).
            for j, ch in enumerate(arg[1:], start=1):
                if ch == "=":
                    break   # `-it=false`: argparse refuses it
                if not takes_value.get(f"-{ch}", False):
                    continue
                value = arg[j + 1:].removeprefix("=")
                if j == len(arg) - 1 and i + 1 < len(argv):
                    value = argv[i + 1]
                    i += 1
                elif j == len(arg) - 1:
                    break   # no value at all: argparse says so
                opts.extend(f"-{c}" for c in arg[1:j])
                arg = f"-{ch}={value}"
                break
        opts.append(arg)
        i += 1
    return opts, []


class RunOptions(Record):
    """The parsed command line: the create body plus what only the client acts on."""

    image: str
    name: str | None
    body: dict[str, Any]
    detach: bool
    auto_remove: bool
    tty: bool
    attach_stdin: bool
    attach_stdout: bool
    attach_stderr: bool
    sig_proxy: bool
    detach_keys: str | None
    cidfile: str
    pull: str
    quiet: bool


def parse_detach_keys(spec: str) -> bytes:
    """``ctrl-p,ctrl-q`` -> b"\\x10\\x11" (docker's term.ToBytes)."""
    out = bytearray()
    for key in spec.split(","):
        key = key.strip()
        if key.lower().startswith("ctrl-") and len(key) == 6:
            ch = key[5].lower()
            if "a" <= ch <= "z":
                out.append(ord(ch) - ord("a") + 1)
                continue
            specials = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}
            if ch in specials:
                out.append(specials[ch])
                continue
        elif len(key) == 1:
            out.append(ord(key))
            continue
        raise UsageError(f"Invalid detach keys ({spec}) provided")
    return bytes(out)


def _read_env_file(path: str, environ: Mapping[str, str]) -> list[str]:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise UsageError(f"open {path}: {exc.strerror.lower() if exc.strerror else exc}") from exc
    out: list[str] = []
    for line in lines:
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        out.extend(_env_item(line, environ))
    return out


def _read_label_file(path: str) -> list[str]:
    """docker reads label files like env files, except that a bare ``NAME`` is dropped."""
    return [item for item in _read_env_file(path, {}) if "=" in item]


def _env_item(item: str, environ: Mapping[str, str]) -> list[str]:
    if "=" in item:
        if item.startswith("="):
            raise UsageError(f"invalid environment variable: {item}")
        return [item]
    # `-e NAME` passes the caller's value through, and nothing when it is unset.
    return [f"{item}={environ[item]}"] if item in environ else []


def _ulimit(spec: str) -> dict[str, Any]:
    """go-units ParseUlimit: ``name=soft[:hard]``."""
    name, sep, values = spec.partition("=")
    if not sep:
        raise UsageError(f'invalid argument "{spec}" for "--ulimit" flag: invalid ulimit argument: {spec}')
    if name not in _ULIMIT_NAMES:
        raise UsageError(f'invalid argument "{spec}" for "--ulimit" flag: invalid ulimit type: {name}')
    soft, _, hard = values.partition(":")
    try:
        s = int(soft)
        h = int(hard) if hard else s
    except ValueError:
        bad = soft if not soft.lstrip("-").isdigit() else hard
        raise UsageError(f'invalid argument "{spec}" for "--ulimit" flag: strconv.ParseInt: '
                         f'parsing "{bad}": invalid syntax') from None
    if s > h:
        raise UsageError(f'invalid argument "{spec}" for "--ulimit" flag: ulimit soft limit must be '
                         f"less than or equal to hard limit: {s} > {h}")
    return {"Name": name, "Soft": s, "Hard": h}


def parse_restart(spec: str) -> dict[str, Any]:
    """``name[:count]`` as the docker CLI splits it: the daemon judges the name."""
    name, _, count = spec.partition(":")
    try:
        retries = int(count) if count else 0
    except ValueError:
        raise UsageError("invalid restart policy format: maximum retry count must be an integer") from None
    if count and name != "on-failure":
        # dockerd refuses this; berthd does not check it, so the CLI does.
        raise UsageError("invalid restart policy format: maximum retry count "
                         "can only be used with 'on-failure'")
    return {"Name": name, "MaximumRetryCount": retries}


def _capabilities(names: list[str]) -> list[str] | None:
    """The docker CLI's form: upper case, ``CAP_`` prefixed (but ``ALL``), unique, sorted."""
    out = {n.upper() if n.upper() == "ALL" or n.upper().startswith("CAP_") else "CAP_" + n.upper()
           for n in names}
    return sorted(out) or None


def _binds(specs: list[str]) -> list[str]:
    """The docker CLI's own checks of ``-v``, and a relative container path, which dockerd
    refuses at create but berthd only at start; modes are the daemon's to judge."""
    for spec in specs:
        parts = spec.split(":")
        if len(parts) > 3:
            raise UsageError(f"invalid spec: {spec}: too many colons")
        if len(parts) > 1 and "" in parts:
            raise UsageError(f"invalid spec: {spec}: empty section between colons")
        target = parts[1] if len(parts) > 1 else parts[0]
        if not target.startswith("/"):
            kind = "bind" if len(parts) > 1 and parts[0].startswith("/") else "volume"
            raise UsageError(f"invalid volume specification: '{spec}': invalid mount config for "
                             f"type \"{kind}\": invalid mount path: '{target}' mount path must be absolute")
    return specs


def _tmpfs(specs: list[str]) -> dict[str, str]:
    """``path[:options]``; a relative path refused here (dockerd refuses it at create, berthd
    only at start), the options judged by the daemon."""
    out: dict[str, str] = {}
    for spec in specs:
        path, _, options = spec.partition(":")
        if not path.startswith("/"):
            raise UsageError(f"invalid mount path: '{path}' mount path must be absolute")
        out[path] = options
    return out


def parse_run_args(command: str, argv: list[str], environ: Mapping[str, str],
                   console_size: tuple[int, int] | None) -> RunOptions:
    """Parse ``argv`` (after the command name); raise UsageError on bad input."""
    parser = build_parser(command)
    opt_args, positional = _split_at_image(parser, argv)
    ns = parser.parse_args(opt_args)
    check_refused(ns, REFUSED_FLAGS)
    if not positional:
        raise UsageError(f"\"berth {command}\" requires at least 1 argument.")
    ns.image, ns.command = positional[0], positional[1:]
    detach = bool(getattr(ns, "detach", False))
    for stream in ns.attach:
        if stream.lower() not in ("stdin", "stdout", "stderr"):
            raise UsageError(f"invalid argument \"{stream}\" for \"-a, --attach\" flag: "
                             "valid streams are STDIN, STDOUT and STDERR")
    if detach and ns.attach:
        raise UsageError("Conflicting options: -a and -d")
    attach = {s.lower() for s in ns.attach}
    if attach:
        a_in, a_out, a_err = "stdin" in attach, "stdout" in attach, "stderr" in attach
    elif detach:
        a_in = a_out = a_err = False
    else:
        a_in, a_out, a_err = bool(ns.interactive), True, True
    env: list[str] = []
    for path in ns.env_file:
        env.extend(_read_env_file(path, environ))
    for item in ns.env:
        try:
            env.extend(_env_item(item, environ))
        except UsageError as exc:
            raise UsageError(f'invalid argument "{item}" for "-e, --env" flag: {exc}') from None
    labels: dict[str, str] = {}
    for item in [*(i for path in ns.label_file for i in _read_label_file(path)), *ns.label]:
        k, _, v = item.partition("=")
        if not k:
            raise UsageError(f'invalid argument "{item}" for "-l, --label" flag: '
                             f"invalid label '{item}': empty name")
        labels[k] = v
    try:
        memory = parse_ram_bytes(ns.memory) if ns.memory else 0
    except BerthError as exc:
        raise UsageError(f'invalid argument "{ns.memory}" for "-m, --memory" flag: {exc}') from exc
    nano_cpus = 0
    if ns.cpus:
        try:
            nano_cpus = round(float(ns.cpus) * 1e9)
        except ValueError as exc:
            raise UsageError(f'invalid argument "{ns.cpus}" for "--cpus" flag: '
                             f"failed to parse {ns.cpus} as a rational number") from exc
    detach_keys = getattr(ns, "detach_keys", None)
    if detach_keys:
        parse_detach_keys(detach_keys)
    entrypoint = None if ns.entrypoint is None else [ns.entrypoint]
    host_config: dict[str, Any] = {
        "Binds": _binds(ns.volume) or None,
        "ContainerIDFile": ns.cidfile,
        "LogConfig": {"Type": "", "Config": {}},
        "NetworkMode": "default",   # endpointflags: the first --network
        "PortBindings": {},
        "RestartPolicy": parse_restart(ns.restart),
        "AutoRemove": bool(ns.rm),
        "VolumeDriver": "",
        "VolumesFrom": None,
        "ConsoleSize": list(console_size) if (ns.tty and console_size) else [0, 0],
        "CapAdd": _capabilities(ns.cap_add),
        "CapDrop": _capabilities(ns.cap_drop),
        "CgroupnsMode": "",
        "Dns": [],
        "DnsOptions": [],
        "DnsSearch": [],
        "ExtraHosts": None,
        "GroupAdd": None,
        "IpcMode": "",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": bool(ns.privileged),
        "PublishAllPorts": False,
        "ReadonlyRootfs": bool(ns.read_only),
        "SecurityOpt": None,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": 0,
        "Memory": memory,
        "NanoCpus": nano_cpus,
        "PidsLimit": resourceflags.go_int(ns.pids_limit, "--pids-limit"),
        "Ulimits": [_ulimit(u) for u in ns.ulimit],
        "MemorySwappiness": -1,
        "OomKillDisable": False,
    }
    if ns.tmpfs:
        host_config["Tmpfs"] = _tmpfs(ns.tmpfs)
    if ns.init is not None:   # only when given: Init false overrides the daemon's default
        host_config["Init"] = ns.init
    body: dict[str, Any] = {
        "Hostname": ns.hostname or "",
        "Domainname": "",
        "User": ns.user or "",
        "AttachStdin": a_in,
        "AttachStdout": a_out,
        "AttachStderr": a_err,
        "Tty": bool(ns.tty),
        "OpenStdin": bool(ns.interactive),
        # Like docker: an attached stdin is closed for the container when the client's ends.
        "StdinOnce": a_in,
        "Env": env or None,
        "Cmd": ns.command or None,
        "Image": ns.image,
        "Volumes": {},
        "WorkingDir": ns.workdir or "",
        "Entrypoint": entrypoint,
        "OnBuild": None,
        "Labels": labels,
        "HostConfig": host_config,
    }
    netflags.apply_flags(ns, body)
    endpointflags.apply_flags(ns, body)
    hostflags.apply_flags(ns, body)
    resourceflags.apply_flags(ns, body)
    healthflags.apply_flags(ns, body, bool(ns.no_healthcheck))
    host_config["OomKillDisable"] = bool(ns.oom_kill_disable)
    if ns.stop_signal:
        body["StopSignal"] = ns.stop_signal
    if ns.stop_timeout is not None:
        body["StopTimeout"] = resourceflags.go_int(ns.stop_timeout, "--stop-timeout")
    sig_proxy = bool(getattr(ns, "sig_proxy", True))
    return RunOptions(
        image=ns.image, name=ns.name, body=body, detach=detach,
        auto_remove=bool(ns.rm), tty=bool(ns.tty), attach_stdin=a_in,
        attach_stdout=a_out, attach_stderr=a_err, sig_proxy=sig_proxy,
        detach_keys=detach_keys, cidfile=ns.cidfile, pull=ns.pull, quiet=bool(ns.quiet),
    )
