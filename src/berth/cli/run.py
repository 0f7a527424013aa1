"""``run``, ``create`` and ``start``: docker's container start-up flows.

run = create (pull on 404) -> attach (own connection) -> wait (headers awaited) -> start
-> tty resize/SIGWINCH -> stream -> exit with the container's status. Owns those flows and
their exit codes (125 daemon error, 126/127 start failures). Must not format tables.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from berth.cli.context import (
    CLIContext,
    GoBool,
    UsageError,
    add_refused,
    check_refused,
    daemon_error_text,
    make_parser,
)
from berth.cli.reference import parse_reference
from berth.cli.runflags import DEFAULT_DETACH_KEYS, RunOptions, parse_detach_keys, parse_run_args
from berth.cli.streams import proxy_signals, pump, resize_on_winch
from berth.cli.terminal import raw_mode, terminal_size
from berth.client import APIClient, HijackedStream, StreamError, WaitHandle
from berth.errors import BerthError, InvalidArgument, NotFound

__all__ = ["cmd_create", "cmd_run", "cmd_start", "start_failure_code"]


def start_failure_code(message: str) -> int:
    """docker's exit status for a failed start: 127 not found, 126 not executable, else 125."""
    lowered = message.lower()
    if "executable file not found" in lowered or "no such file" in lowered:
        return 127
    if "permission denied" in lowered:
        return 126
    return 125


def _pull(ctx: CLIContext, image: str, *, quiet: bool, missing: bool) -> None:
    ref = parse_reference(image)
    if missing and not quiet:
        sys.stderr.write(f"Unable to find image '{ref.familiar}' locally\n")
        sys.stderr.flush()
    tag = ref.digest or ref.tag or "latest"
    for msg in ctx.client.pull_image(ref.normalized_name, tag):
        if msg.status and not msg.progress and not quiet:
            line = f"{msg.id}: {msg.status}" if msg.id else msg.status
            sys.stderr.write(line + "\n")
    sys.stderr.flush()


@contextlib.contextmanager
def _cidfile(path: str) -> Iterator[list[str]]:
    """docker's --cidfile: refuse an existing file, create it before the container, write the
    ID once created, and remove it when creating fails. Yields a list to put the ID in."""
    holder: list[str] = []
    if not path:
        yield holder
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise UsageError(f"container ID file found, make sure the other container isn't running "
                         f"or delete {path}") from None
    except OSError as exc:
        raise UsageError(f"failed to create the container ID file: {exc}") from exc
    try:
        yield holder
    finally:
        if holder:
            os.write(fd, holder[0].encode())
        os.close(fd)
        if not holder:
            os.unlink(path)


def _create(ctx: CLIContext, opts: RunOptions) -> str:
    try:
        parse_reference(opts.image)
    except InvalidArgument as exc:
        raise UsageError(str(exc)) from exc
    with _cidfile(opts.cidfile) as created:
        if opts.pull == "always":
            _pull(ctx, opts.image, quiet=opts.quiet, missing=False)
        try:
            result = ctx.client.create_container(opts.body, opts.name)
        except NotFound:
            if opts.pull != "missing":
                raise
            # The daemon answers 404 on create only for a missing image (API contract), so
            # pull without a second look-up, exactly like the docker CLI.
            _pull(ctx, opts.image, quiet=opts.quiet, missing=True)
            result = ctx.client.create_container(opts.body, opts.name)
        created.append(result.id)
    for warning in result.warnings:
        sys.stderr.write(f"WARNING: {warning}\n")
    return result.id


def cmd_create(ctx: CLIContext, argv: list[str]) -> int:
    opts = parse_run_args("create", argv, ctx.environ, terminal_size(1))
    # Past flag parsing, docker's create (unlike run) reports a failure as is, with status 1.
    try:
        cid = _create(ctx, opts)
    except UsageError as exc:
        ctx.error(str(exc))
        return 1
    except StreamError as exc:
        ctx.error(exc.message)
        return 1
    except BerthError as exc:
        ctx.error(daemon_error_text(exc))
        return 1
    sys.stdout.write(cid + "\n")
    return 0


@contextlib.contextmanager
def _interactive(client: APIClient, cid: str, tty: bool, stdin: bool,
                 sig_proxy: bool) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        if tty:
            if stdin:
                stack.enter_context(raw_mode(0))
            stack.enter_context(resize_on_winch(client, cid))
        elif sig_proxy:
            stack.enter_context(proxy_signals(client, cid))
        yield


def _stream_and_wait(ctx: CLIContext, cid: str, stream: HijackedStream | None, wait: WaitHandle,
                     *, tty: bool, stdin: bool, sig_proxy: bool, keys: bytes) -> int:
    with _interactive(ctx.client, cid, tty, stdin, sig_proxy):
        detached = stream is not None and pump(stream, tty=tty, stdin=stdin, detach_keys=keys)
    if detached:
        wait.cancel()
        return 0
    result = wait.result()
    if result.error:
        ctx.error(f"docker: Error response from daemon: {result.error}")
    return result.status_code


def cmd_run(ctx: CLIContext, argv: list[str]) -> int:
    opts = parse_run_args("run", argv, ctx.environ, terminal_size(1))
    keys = parse_detach_keys(opts.detach_keys or DEFAULT_DETACH_KEYS)
    if opts.tty and opts.attach_stdin and not os.isatty(0):
        ctx.error("the input device is not a TTY")
        return 1
    client = ctx.client
    try:
        cid = _create(ctx, opts)
        stream = None
        if not opts.detach and (opts.attach_stdin or opts.attach_stdout or opts.attach_stderr):
            stream = client.attach(cid, stdin=opts.attach_stdin, stdout=opts.attach_stdout,
                                   stderr=opts.attach_stderr, detach_keys=opts.detach_keys)
        condition = "removed" if (opts.auto_remove and not opts.detach) else "next-exit"
        wait = client.wait(cid, condition)
    except StreamError as exc:
        ctx.error(f"docker: {exc.message}")
        return 125
    except BerthError as exc:
        ctx.error("docker: " + daemon_error_text(exc))
        return 125
    try:
        client.start_container(cid)
    except BerthError as exc:
        wait.cancel()
        if stream is not None:
            stream.close()
        ctx.error("docker: " + daemon_error_text(exc))
        return start_failure_code(exc.message)
    if opts.detach:
        wait.cancel()
        sys.stdout.write(cid + "\n")
        return 0
    try:
        return _stream_and_wait(ctx, cid, stream, wait, tty=opts.tty, stdin=opts.attach_stdin,
                                sig_proxy=opts.sig_proxy, keys=keys)
    except BerthError as exc:
        ctx.error("docker: " + daemon_error_text(exc))
        return 125


def cmd_start(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("start", "Start one or more stopped containers")
    p.add_argument("-a", "--attach", action=GoBool)
    p.add_argument("-i", "--interactive", action=GoBool)
    p.add_argument("--detach-keys")
    refused = {"--checkpoint": "berthd has no checkpoints",
               "--checkpoint-dir": "berthd has no checkpoints"}
    add_refused(p, refused)
    p.add_argument("containers", nargs="+")
    ns = p.parse_args(argv)
    check_refused(ns, refused)
    client = ctx.client
    if ns.attach or ns.interactive:
        if len(ns.containers) > 1:
            raise UsageError("you cannot start and attach multiple containers at once")
        ref = ns.containers[0]
        keys = parse_detach_keys(ns.detach_keys or DEFAULT_DETACH_KEYS)
        try:
            info = client.inspect_container(ref)
            cid = str(info["Id"])
            tty = bool(info.get("Config", {}).get("Tty"))
            stdin = bool(ns.interactive and info.get("Config", {}).get("OpenStdin"))
            stream = client.attach(cid, stdin=stdin, stdout=True, stderr=True,
                                   detach_keys=ns.detach_keys)
            wait = client.wait(cid, "next-exit")
            client.start_container(cid)
        except BerthError as exc:
            ctx.fail(exc)
            return 1
        try:
            return _stream_and_wait(ctx, cid, stream, wait, tty=tty, stdin=stdin,
                                    sig_proxy=True, keys=keys)
        except BerthError as exc:
            ctx.fail(exc)
            return 1
    status = 0
    for ref in ns.containers:
        try:
            client.start_container(ref)
            sys.stdout.write(ref + "\n")
        except BerthError as exc:
            ctx.fail(exc)
            status = 1
    return status
