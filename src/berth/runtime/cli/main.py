"""Global options, command dispatch and runc's error contract (message, log line, exit 1).

Start-up time is part of every container operation, so this module imports nothing beyond the
command table: the chosen command's module is imported when it runs (``run`` needs the whole
runtime library, ``state`` a fraction of it), and ``console_main`` leaves with ``os._exit``
once the standard streams are flushed, skipping the interpreter's teardown of every module.
"""

from __future__ import annotations

import _thread
import gc
import os
import sys
import time

from berth.errors import BerthError
from berth.runtime._suppress import suppress
from berth.runtime.cli import commands
from berth.runtime.cli._args import Args, UsageError, command_usage, parse_command, parse_global

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import NoReturn

    from berth.runtime.cgroups.prime import Stoppable

__all__ = ["console_main", "main"]

_PROG = "berth-runtime"
# Commands whose runtime moves a process into a cgroup (see berth.runtime.cgroups.prime).
_JOIN_CGROUP = frozenset({"create", "run", "exec"})
# Long enough for the imports and create; a foreground ``run`` returns only when it exits.
_PRIME_SECONDS = 0.3


def _log_error(glob: Args, message: str) -> None:
    """Where runc writes its log lines: ``--log`` (default stderr) in ``--log-format``."""
    from berth.runtime import _fastjson

    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
    if glob.log_format == "json":
        line = _fastjson.dumps({"level": "error", "msg": message, "time": stamp})
    else:
        line = f'time="{stamp}" level=error msg={_fastjson.dumps(message)}'
    if not glob.log:
        print(line, file=sys.stderr)
        return
    try:
        with open(glob.log, "a") as f:
            f.write(line + "\n")
    except OSError:
        pass
    # runc prints the error itself too, so a caller without the log still sees it.
    print(message, file=sys.stderr)


def _warm_cgroup_lock(stop: Stoppable, keep_warm: Callable[[Stoppable, float], None]) -> None:
    with suppress(Exception):  # only ever a gain; a thread must not print
        keep_warm(stop, _PRIME_SECONDS)


def _usage() -> str:
    width = max(len(c.name) for c in commands.COMMANDS)
    lines = [f"{_PROG} - berth's OCI runtime", "", "USAGE:",
             f"   {_PROG} [global options] command [command options] [arguments...]", "",
             "COMMANDS:"]
    lines += [f"   {c.name:{width}}  {c.help}" for c in commands.COMMANDS]
    lines += ["", "GLOBAL OPTIONS:"]
    for opt in commands.GLOBAL_OPTIONS:
        if opt.help:
            lines.append(f"   {', '.join(opt.names) + ('' if opt.kind == 'flag' else ' value'):28}"
                         f" {opt.help}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command line; its exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    cmd: commands.Command | None = None
    try:
        glob, rest = parse_global(commands.GLOBAL_OPTIONS, argv)
        if glob.version:
            print(f"{_PROG} version 0.1\nspec: 1.2.0")
            return 0
        if glob.help or not rest:
            print(_usage())
            return 0
        cmd = commands.find(rest[0])
        if cmd is None:
            raise UsageError(f"no such command {rest[0]!r}")
        args = parse_command(cmd, rest[1:])
    except UsageError as exc:
        usage = _usage() if cmd is None else command_usage(_PROG, cmd)
        print(f"Incorrect Usage: {exc}\n\n{usage}", file=sys.stderr)
        return 1
    if args.help:
        print(command_usage(_PROG, cmd))
        return 0
    # A short-lived process: collecting while the runtime's modules load only costs time.
    gc.disable()
    stop = _thread.allocate_lock()
    stop.acquire()
    if cmd.name in _JOIN_CGROUP:
        # The cgroup lock's slow start (an RCU grace period) overlaps the imports below.
        from berth.runtime.cgroups.prime import keep_warm

        with suppress(RuntimeError):  # no thread to be had (a threads limit): no gain
            _thread.start_new_thread(_warm_cgroup_lock, (stop, keep_warm))
    try:
        name = f"berth.runtime.cli.{cmd.module}"
        __import__(name)  # not importlib.import_module: the importlib package loads warnings
        module = sys.modules[name]
        func: Callable[[Args, str], int] = getattr(module, cmd.function)
        return int(func(args, glob.root))
    except BerthError as exc:
        _log_error(glob, str(exc))
        return int(getattr(exc, "exit_status", 1))  # exec's own failures: 255, as runc
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        _log_error(glob, f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        return 1
    finally:
        stop.release()


def console_main() -> NoReturn:
    """The ``berth-runtime`` entry point: ``main``, then exit without tearing the interpreter down."""
    try:
        code = main()
    except BrokenPipeError:
        code = 1  # our reader went away (``| head``); runc dies of SIGPIPE there
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 1
    os._exit(code)


if __name__ == "__main__":
    console_main()
