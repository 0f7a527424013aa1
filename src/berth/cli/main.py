"""Entry point of the ``berth`` CLI: global flags, then one command module imported lazily.

Owns dispatch and the top-level exit-code policy (125 for usage errors, 1 for unexpected
daemon errors). Must stay cheap to import: no aiohttp, no rich, no command modules until
the command is known.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys

__all__ = ["COMMANDS", "main"]

# command -> (module, function); modules load only when their command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("berth.cli.run", "cmd_run"),
    "create": ("berth.cli.run", "cmd_create"),
    "start": ("berth.cli.run", "cmd_start"),
    "stop": ("berth.cli.containers", "cmd_stop"),
    "kill": ("berth.cli.containers", "cmd_kill"),
    "restart": ("berth.cli.containers", "cmd_restart"),
    "rm": ("berth.cli.containers", "cmd_rm"),
    "ps": ("berth.cli.containers", "cmd_ps"),
    "logs": ("berth.cli.containers", "cmd_logs"),
    "images": ("berth.cli.images", "cmd_images"),
    "import": ("berth.cli.images", "cmd_import"),
    "tag": ("berth.cli.images", "cmd_tag"),
    "rmi": ("berth.cli.images", "cmd_rmi"),
    "inspect": ("berth.cli.system", "cmd_inspect"),
    "version": ("berth.cli.system", "cmd_version"),
    "info": ("berth.cli.system", "cmd_info"),
    "pull": ("berth.cli.registry", "cmd_pull"),
    "push": ("berth.cli.registry", "cmd_push"),
    "login": ("berth.cli.registry", "cmd_login"),
    "logout": ("berth.cli.registry", "cmd_logout"),
    "registry": ("berth.cli.registry", "cmd_registry"),
    "stats": ("berth.cli.stats", "cmd_stats"),
    "events": ("berth.cli.events", "cmd_events"),
    "build": ("berth.cli.build", "cmd_build"),
    "builder": ("berth.cli.build", "cmd_builder"),
    "network": ("berth.cli.networks", "cmd_network"),
    "volume": ("berth.cli.volumes", "cmd_volume"),
    "port": ("berth.cli.networks", "cmd_port"),
    "exec": ("berth.cli.control", "cmd_exec"),
    "attach": ("berth.cli.control", "cmd_attach"),
    "wait": ("berth.cli.control", "cmd_wait"),
    "pause": ("berth.cli.control", "cmd_pause"),
    "unpause": ("berth.cli.control", "cmd_unpause"),
    "rename": ("berth.cli.control", "cmd_rename"),
    "top": ("berth.cli.control", "cmd_top"),
    "update": ("berth.cli.control", "cmd_update"),
    "commit": ("berth.cli.imagefiles", "cmd_commit"),
    "diff": ("berth.cli.imagefiles", "cmd_diff"),
    "export": ("berth.cli.imagefiles", "cmd_export"),
    "save": ("berth.cli.imagefiles", "cmd_save"),
    "load": ("berth.cli.imagefiles", "cmd_load"),
    "history": ("berth.cli.imagefiles", "cmd_history"),
    "cp": ("berth.cli.copy", "cmd_cp"),
    "image": ("berth.cli.prune", "cmd_image"),
    "container": ("berth.cli.prune", "cmd_container"),
    "system": ("berth.cli.prune", "cmd_system"),
}
_ALIASES = {
    ("container", "ls"): "ps", ("container", "list"): "ps", ("container", "run"): "run",
    ("container", "create"): "create", ("container", "start"): "start",
    ("container", "stop"): "stop", ("container", "kill"): "kill",
    ("container", "restart"): "restart", ("container", "rm"): "rm",
    ("container", "logs"): "logs",
    ("image", "ls"): "images", ("image", "list"): "images", ("image", "import"): "import",
    ("image", "tag"): "tag", ("image", "rm"): "rmi",
    ("image", "pull"): "pull", ("image", "push"): "push",
    ("system", "info"): "info",
    ("image", "build"): "build",
    ("container", "port"): "port",
    ("container", "exec"): "exec", ("container", "attach"): "attach",
    ("container", "wait"): "wait", ("container", "pause"): "pause",
    ("container", "unpause"): "unpause", ("container", "rename"): "rename",
    ("container", "top"): "top", ("container", "update"): "update",
    ("container", "stats"): "stats", ("system", "events"): "events",
    ("container", "commit"): "commit", ("container", "diff"): "diff",
    ("container", "export"): "export", ("container", "cp"): "cp",
    ("image", "save"): "save", ("image", "load"): "load", ("image", "history"): "history",
}

_USAGE = """Usage:  berth [OPTIONS] COMMAND

A container engine that speaks the Docker Engine API

Options:
  -H, --host string   Daemon socket to connect to (default unix:///run/berth/berth.sock)
  -D, --debug         Enable debug mode
  -v, --version       Print version information and quit

Commands:
  {commands}
"""


def _usage() -> str:
    return _USAGE.format(commands="\n  ".join(sorted(COMMANDS)))


def _split_globals(argv: list[str]) -> tuple[str | None, list[str]] | int:
    host: str | None = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-H", "--host"):
            if i + 1 >= len(argv):
                sys.stderr.write("flag needs an argument: -H\n")
                return 125
            host = argv[i + 1]
            i += 2
        elif arg.startswith("--host="):
            host = arg.split("=", 1)[1]
            i += 1
        elif arg.startswith("-H") and len(arg) > 2:
            host = arg[2:]
            i += 1
        elif arg in ("-D", "--debug"):
            i += 1
        elif arg in ("-h", "--help"):
            sys.stdout.write(_usage())
            return 0
        elif arg in ("-v", "--version"):
            from berth import __version__

            sys.stdout.write(f"berth version {__version__}\n")
            return 0
        elif arg.startswith("-"):
            sys.stderr.write(f"unknown flag: {arg}\nSee 'berth --help'.\n")
            return 125
        else:
            return host, argv[i:]
    return host, []


def main(argv: list[str] | None = None) -> int:
    """Run one CLI invocation; returns the process exit status.

    As the program (``argv`` None) it ends the process itself once the output is flushed:
    tearing down the interpreter's modules and threads is wasted work for a one-shot
    command. Called with ``argv`` (tests, embedding) it returns.
    """
    status = _main(sys.argv[1:] if argv is None else argv)
    if argv is None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(status)
    return status


def _main(args: list[str]) -> int:
    split = _split_globals(args)
    if isinstance(split, int):
        return split
    host, rest = split
    if not rest:
        sys.stdout.write(_usage())
        return 0
    command, cmd_args = rest[0], rest[1:]
    if cmd_args and (command, cmd_args[0]) in _ALIASES:
        command, cmd_args = _ALIASES[(command, cmd_args[0])], cmd_args[1:]
    for group in ("container", "image"):
        if command == group and cmd_args and cmd_args[0] == "inspect":
            command, cmd_args = "inspect", ["--type", group, *cmd_args[1:]]
    target = COMMANDS.get(command)
    if target is None:
        sys.stderr.write(f"berth: '{command}' is not a berth command.\nSee 'berth --help'\n")
        return 1
    from berth.cli.context import CLIContext, UsageError
    from berth.errors import BerthError

    module = importlib.import_module(target[0])
    ctx = CLIContext(host_flag=host, environ=dict(os.environ))
    try:
        status: int = getattr(module, target[1])(ctx, cmd_args)
    except UsageError as exc:
        prefix = "docker: " if command in ("run", "create") else ""
        sys.stderr.write(f"{prefix}{exc}\n")
        return 125
    except BerthError as exc:
        ctx.fail(exc)
        return 125 if command in ("run", "create") else 1
    except KeyboardInterrupt:
        return 130
    finally:
        with contextlib.suppress(BrokenPipeError):
            sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
