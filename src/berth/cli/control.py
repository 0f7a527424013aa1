"""berth exec / attach / wait / pause / unpause / rename / top / update: commands on a
container's processes, with docker's flags, output and exit codes."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import Any

from berth.cli.containers import _each
from berth.cli.context import (
    CLIContext,
    GoBool,
    UsageError,
    add_refused,
    check_refused,
    daemon_error_text,
    make_parser,
)
from berth.cli.resourceflags import go_int, size_flag
from berth.cli.runflags import DEFAULT_DETACH_KEYS, parse_detach_keys, parse_restart
from berth.cli.streams import pump, resize_exec_on_winch, resize_on_winch
from berth.cli.terminal import raw_mode
from berth.client.hijack import hijack
from berth.errors import BerthError

__all__ = ["cmd_attach", "cmd_exec", "cmd_pause", "cmd_rename", "cmd_top", "cmd_unpause",
           "cmd_update", "cmd_wait"]


def cmd_exec(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("exec", "Execute a command in a running container")
    p.add_argument("-d", "--detach", action=GoBool)
    p.add_argument("-i", "--interactive", action=GoBool)
    p.add_argument("-t", "--tty", action=GoBool)
    p.add_argument("-u", "--user", default="")
    p.add_argument("-w", "--workdir", default="")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("--env-file", action="append", default=[])
    p.add_argument("--privileged", action=GoBool)
    p.add_argument("--detach-keys")
    p.add_argument("container")
    p.add_argument("command", nargs=argparse.REMAINDER)
    ns = p.parse_args(argv)
    if not ns.command:
        p.error("requires at least 2 arguments")
    if ns.tty and ns.interactive and not os.isatty(0):
        ctx.error("the input device is not a TTY")
        return 1
    env = [e if "=" in e else f"{e}={ctx.environ.get(e, '')}" for e in ns.env]
    for path in ns.env_file:
        with open(path) as f:
            env += [line.strip() for line in f if line.strip() and not line.startswith("#")]
    attach = not ns.detach
    body = {"Cmd": ns.command, "Env": env, "User": ns.user, "WorkingDir": ns.workdir,
            "Privileged": ns.privileged, "Tty": ns.tty, "AttachStdin": ns.interactive and attach,
            "AttachStdout": attach, "AttachStderr": attach,
            "DetachKeys": ns.detach_keys or ""}
    client = ctx.client
    try:
        exec_id = client.request("POST", f"/containers/{ns.container}/exec",
                                 body=body).json()["Id"]
        if ns.detach:
            client.request("POST", f"/exec/{exec_id}/start", body={"Detach": True}).read()
            return 0
        stream = hijack(client.transport, f"/v{client.version}", f"/exec/{exec_id}/start", None)
    except BerthError as exc:
        ctx.error(daemon_error_text(exc))
        return 126 if "executable" in exc.message else 1
    keys = parse_detach_keys(ns.detach_keys or DEFAULT_DETACH_KEYS)
    with contextlib.ExitStack() as stack:
        if ns.tty:
            if ns.interactive:
                stack.enter_context(raw_mode(0))
            stack.enter_context(resize_exec_on_winch(client, exec_id))
        detached = pump(stream, tty=ns.tty, stdin=ns.interactive, detach_keys=keys)
    if detached:
        ctx.error("read escape sequence")
        return 1
    try:
        info = client.request("GET", f"/exec/{exec_id}/json").json()
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    code = info.get("ExitCode")
    return int(code) if isinstance(code, int) else 0


def cmd_attach(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("attach", "Attach local standard input, output, and error streams to a "
                               "running container")
    p.add_argument("--no-stdin", action=GoBool)
    p.add_argument("--sig-proxy", default="true")
    p.add_argument("--detach-keys")
    p.add_argument("container")
    ns = p.parse_args(argv)
    client = ctx.client
    try:
        info = client.inspect_container(ns.container)
        if not info["State"]["Running"]:
            ctx.error("You cannot attach to a stopped container, start it first")
            return 1
        if info["State"]["Paused"]:
            ctx.error("You cannot attach to a paused container, unpause it first")
            return 1
        tty = bool(info["Config"].get("Tty"))
        stdin = not ns.no_stdin and bool(info["Config"].get("OpenStdin"))
        stream = client.attach(ns.container, stdin=stdin, stdout=True, stderr=True,
                               detach_keys=ns.detach_keys)
        wait = client.wait(ns.container, "not-running")
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    keys = parse_detach_keys(ns.detach_keys or DEFAULT_DETACH_KEYS)
    with contextlib.ExitStack() as stack:
        if tty:
            if stdin:
                stack.enter_context(raw_mode(0))
            stack.enter_context(resize_on_winch(client, ns.container))
        detached = pump(stream, tty=tty, stdin=stdin, detach_keys=keys)
    if detached:
        wait.cancel()
        ctx.error("read escape sequence")
        return 0
    result = wait.result()
    return result.status_code


def cmd_wait(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("wait", "Block until one or more containers stop, then print their exit codes")
    p.add_argument("containers", nargs="+")
    ns = p.parse_args(argv)
    status = 0
    for ref in ns.containers:
        try:
            result = ctx.client.wait(ref).result()
        except BerthError as exc:
            ctx.fail(exc)
            status = 1
            continue
        sys.stdout.write(f"{result.status_code}\n")
        sys.stdout.flush()
    return status


def _post_each(ctx: CLIContext, refs: list[str], action: str) -> int:
    client = ctx.client

    def call(ref: str) -> None:
        client.request("POST", f"/containers/{ref}/{action}").read()

    return _each(ctx, refs, call)


def cmd_pause(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("pause", "Pause all processes within one or more containers")
    p.add_argument("containers", nargs="+")
    return _post_each(ctx, p.parse_args(argv).containers, "pause")


def cmd_unpause(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("unpause", "Unpause all processes within one or more containers")
    p.add_argument("containers", nargs="+")
    return _post_each(ctx, p.parse_args(argv).containers, "unpause")


def cmd_rename(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("rename", "Rename a container")
    p.add_argument("container")
    p.add_argument("new_name")
    ns = p.parse_args(argv)
    try:
        ctx.client.request("POST", f"/containers/{ns.container}/rename",
                           {"name": ns.new_name}).read()
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    return 0


def cmd_top(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("top", "Display the running processes of a container")
    p.add_argument("container")
    p.add_argument("ps_args", nargs=argparse.REMAINDER)
    ns = p.parse_args(argv)
    try:
        body = ctx.client.request("GET", f"/containers/{ns.container}/top",
                                  {"ps_args": " ".join(ns.ps_args) or None}).json()
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    sys.stdout.write(_top_table(body["Titles"], body["Processes"]))
    sys.stdout.flush()
    return 0


def cmd_update(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("update", "Update configuration of one or more containers")
    p.add_argument("-m", "--memory")
    p.add_argument("--memory-swap")
    p.add_argument("--memory-reservation")
    p.add_argument("--cpus")
    p.add_argument("-c", "--cpu-shares")
    p.add_argument("--cpu-period")
    p.add_argument("--cpu-quota")
    p.add_argument("--cpuset-cpus")
    p.add_argument("--cpuset-mems")
    p.add_argument("--pids-limit")
    p.add_argument("--blkio-weight")
    p.add_argument("--restart")
    refused = {"--cpu-rt-period": "berthd does not apply real-time CPU limits",
               "--cpu-rt-runtime": "berthd does not apply real-time CPU limits"}
    add_refused(p, refused)
    p.add_argument("containers", nargs="+")
    ns = p.parse_args(argv)
    check_refused(ns, refused)
    body: dict[str, Any] = {}
    for key, value, flag in (("Memory", ns.memory, "-m, --memory"),
                             ("MemoryReservation", ns.memory_reservation, "--memory-reservation")):
        if value:
            body[key] = size_flag(value, flag)
    if ns.memory_swap:
        body["MemorySwap"] = -1 if ns.memory_swap == "-1" else size_flag(ns.memory_swap, "--memory-swap")
    if ns.cpus is not None:
        try:
            body["NanoCpus"] = round(float(ns.cpus) * 1e9)
        except ValueError:
            raise UsageError(f'invalid argument "{ns.cpus}" for "--cpus" flag') from None
    for key, text, flag in (("CpuShares", ns.cpu_shares, "-c, --cpu-shares"),
                            ("CpuPeriod", ns.cpu_period, "--cpu-period"),
                            ("CpuQuota", ns.cpu_quota, "--cpu-quota"),
                            ("PidsLimit", ns.pids_limit, "--pids-limit")):
        if text is not None:
            body[key] = go_int(text, flag)
    if ns.blkio_weight is not None:
        body["BlkioWeight"] = go_int(ns.blkio_weight, "--blkio-weight", bits=16, signed=False)
    for key, value in (("CpusetCpus", ns.cpuset_cpus), ("CpusetMems", ns.cpuset_mems)):
        if value is not None:
            body[key] = value
    if ns.restart:
        try:
            body["RestartPolicy"] = parse_restart(ns.restart)
        except UsageError as exc:
            ctx.error(str(exc))   # docker's update reports it plainly, with status 1
            return 1
    client = ctx.client
    return _each(ctx, ns.containers, lambda ref: _warn(client.request(
        "POST", f"/containers/{ref}/update", body=body).json()))


def _top_table(titles: list[str], rows: list[list[str]]) -> str:
    """docker top's layout: tabwriter with min width 20 and padding 3, last column free."""
    all_rows = [titles, *rows]
    widths = [max(20, *(len(r[i]) + 3 for r in all_rows if i < len(r)))
              for i in range(len(titles) - 1)]
    return "".join("".join(c.ljust(widths[i]) for i, c in enumerate(r[:-1])) + r[-1] + "\n"
                   for r in all_rows)


def _warn(answer: Any) -> None:
    for warning in (answer or {}).get("Warnings") or []:
        sys.stderr.write(f"{json.dumps(warning)}\n")
