"""exec and ps: more processes in a running container, and the ones it has.

A detached exec leaves its process to our caller's subreaper (containerd's shim), as
``runc exec -d`` does; a foreground exec becomes its subreaper, forwards signals and exits
with its status.
"""

from __future__ import annotations

import sys

from berth.errors import BerthError, InvalidArgument, RuntimeFailure
from berth.runtime import _fastjson, _sys, manage
from berth.runtime import exec as rexec
from berth.runtime.cli import _common
from berth.runtime.cli._args import Args
from berth.runtime.cli._consolesock import send_console

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

__all__ = ["cmd_exec", "cmd_ps"]

_PR_SET_CHILD_SUBREAPER: Final = 36


class _ExecFailed(RuntimeFailure):
    """The process could not be started: runc's exec exits 255 then (its own code otherwise)."""

    exit_status = 255


def _options(args: Args) -> rexec.ExecOptions:
    if args.process:
        try:
            if args.process == "-":
                raw = sys.stdin.read()
            else:
                with open(args.process) as f:
                    raw = f.read()
            doc = _fastjson.loads(raw)
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"read process spec {args.process}: {exc}") from exc
        return rexec.options_from_process(doc, stdin=0, stdout=1, stderr=2,
                                          preserve_fds=args.preserve_fds)
    if not args.argv:
        raise InvalidArgument("exec needs a command or --process")
    return rexec.ExecOptions(args=tuple(args.argv), env=tuple(args.env), cwd=args.cwd,
                             user=args.user, tty=args.tty, stdin=0, stdout=1, stderr=2,
                             preserve_fds=args.preserve_fds)


def cmd_exec(args: Args, root: str) -> int:
    try:
        started = _start(args, root)
    except RuntimeFailure as exc:
        raise _ExecFailed(f"exec failed: unable to start container process: {exc}") from exc
    except BerthError as exc:
        raise _ExecFailed(f"exec failed: {exc}") from exc
    if args.pid_file:
        _common.write_pid_file(args.pid_file, started.pid)
    if args.detach:
        return 0
    _common.forward_signals(started.pid)
    return _common.wait_exit(started.pid)


def _start(args: Args, root: str) -> rexec.Exec:
    opts = _options(args)
    if opts.tty and not args.console_socket:
        raise InvalidArgument("cannot allocate tty if runc will detach without setting console socket"
                              if args.detach else "berth-runtime exec --tty needs --console-socket")
    if not args.detach:
        _sys.prctl(_PR_SET_CHILD_SUBREAPER, 1)
    started = rexec.exec_process(root, args.id, opts)
    if started.console_fd is not None:
        send_console(args.console_socket, started.console_fd)
    return started


def cmd_ps(args: Args, root: str) -> int:
    import subprocess  # ps only: exec, the frequent command, does without

    pids = manage.cgroup_pids(root, args.id)
    if args.format == "json":
        print(_fastjson.dumps(pids))
        return 0
    try:
        out = subprocess.run(["ps", *(args.ps_args or ["-ef"])], check=True, capture_output=True,
                             text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RuntimeFailure(f"ps: {exc}") from exc
    lines = out.splitlines()
    if not lines:
        return 0
    header = lines[0]
    try:
        col = header.split().index("PID")
    except ValueError as exc:
        raise RuntimeFailure("couldn't find PID field in ps output") from exc
    print(header)
    wanted = set(pids)
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in wanted:
            print(line)
    return 0
