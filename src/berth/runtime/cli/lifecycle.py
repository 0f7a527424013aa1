"""create, start, run, state, kill, delete, list: the container's life through the command line.

``create`` uses the library's exec-fifo mode: the init waits on ``exec.fifo`` in the state dir
and this process exits, leaving the init to whoever reaps for our caller (containerd's shim
is a subreaper; otherwise PID 1), exactly as with ``runc create``. ``run`` keeps the init as its
child, starts it over the handshake, forwards signals, waits and deletes.
"""

from __future__ import annotations

import os

from berth.errors import Conflict, InvalidArgument, NotFound, RuntimeFailure
from berth.runtime import _fastjson, control, manage
from berth.runtime import state as statefile
from berth.runtime._suppress import suppress
from berth.runtime.cli import _common
from berth.runtime.cli._args import Args
from berth.runtime.cli._consolesock import send_console

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.runtime import container

__all__ = ["cmd_create", "cmd_delete", "cmd_kill", "cmd_list", "cmd_run", "cmd_start", "cmd_state"]


def _create(args: Args, root: str, detached: bool,
            fifo: bool) -> container.Created:
    bundle = os.path.abspath(args.bundle or ".")
    try:
        # Read once: the terminal checks below and the create use the same document.
        spec: dict[str, Any] | None = manage._load_spec(bundle)
    except RuntimeFailure:
        spec = None  # create reports the bundle's problem itself, after the checks below
    terminal = bool(spec is not None and (spec.get("process") or {}).get("terminal"))
    if terminal and not args.console_socket and detached:
        raise InvalidArgument("cannot allocate tty if runc will detach without setting console socket")
    if args.console_socket and not terminal:
        raise InvalidArgument("cannot use console socket if runc will not detach or allocate tty")
    if not args.id:
        raise InvalidArgument('"create" requires exactly 1 argument(s)')
    from berth.runtime import container  # create and run only: start/state/kill/delete do without

    opts = container.CreateOptions(id=args.id, bundle=bundle, state_root=root, stdin=0, stdout=1,
                                   stderr=2, exec_fifo=fifo, preserve_fds=args.preserve_fds)
    created = container.create(opts, None if spec is None else container.prepare(opts, spec))
    try:
        if created.console_fd is not None:
            if args.console_socket:
                send_console(args.console_socket, created.console_fd)
            else:
                os.close(created.console_fd)
        if args.pid_file:
            _common.write_pid_file(args.pid_file, created.pid)
    except BaseException:
        created.close()
        manage.delete(root, args.id)
        raise
    return created


def cmd_create(args: Args, root: str) -> int:
    _create(args, root, detached=True, fifo=True).detach()
    return 0


def cmd_start(args: Args, root: str) -> int:
    manage.start_detached(root, args.id)
    return 0


def cmd_run(args: Args, root: str) -> int:
    # run starts over the handshake right away, even with --detach.
    created = _create(args, root, detached=args.detach, fifo=False)
    if not args.detach:
        _common.forward_signals(created.pid)
    try:
        created.start()
    except BaseException:
        with suppress(Exception):
            manage.delete(root, args.id)
        raise
    if args.detach:
        return 0
    code = _common.wait_exit(created.pid)
    if not args.keep:  # runc run --keep: the stopped container stays for state/delete
        with suppress(NotFound):
            manage.delete(root, args.id)
    return code


def cmd_state(args: Args, root: str) -> int:
    print(_fastjson.dumps(_common.oci_state(root, args.id), indent=2))
    return 0


def cmd_kill(args: Args, root: str) -> int:
    sig = _common.parse_signal(args.signal)
    manage.kill(root, args.id, sig, all=args.all)
    return 0


def cmd_delete(args: Args, root: str) -> int:
    try:
        st = _common.oci_state(root, args.id)
    except NotFound:
        if args.force:
            # A create killed half-way leaves its reserved dir without state: clear it.
            statefile.remove(root, args.id)
            return 0
        raise
    status = st["status"]
    # The spec wants an error for anything not stopped, a created container too.
    if status != "stopped" and not args.force:
        raise Conflict(f"cannot delete container {args.id} that is not stopped: {status}")
    if status == "paused":
        control.resume(root, args.id)  # a frozen process never acts on SIGKILL
    manage.delete(root, args.id)
    return 0


def _list_entries(root: str) -> list[dict[str, Any]]:
    entries = []
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        with suppress(NotFound, OSError, ValueError, InvalidArgument):
            entries.append(_common.oci_state(root, name))
    return entries


def cmd_list(args: Args, root: str) -> int:
    entries = _list_entries(root)
    if args.quiet:
        for e in entries:
            print(e["id"])
    elif args.format == "json":
        print(_fastjson.dumps(entries or None))
    else:
        rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
        rows += [[e["id"], str(e["pid"]), e["status"], e["bundle"], e["created"], e["owner"] or "root"]
                 for e in entries]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0
