"""``berth build`` and ``berth builder prune``: the classic build API from the command line.

Owns the flags, packing the context the way the docker CLI does (``.dockerignore`` applied
client-side, the Dockerfile and ``.dockerignore`` always sent, a Dockerfile from ``-f -``
or outside the context added under a generated name), and rendering the progress stream.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from berth.buildcontext import read_dockerignore, write_context_tar
from berth.cli.context import CLIContext, GoBool, UsageError, add_refused, check_refused, make_parser
from berth.cli.registry import build_auth_header
from berth.client.progress import StreamError, decode_progress
from berth.errors import BerthError

__all__ = ["cmd_build", "cmd_builder"]


def _kv_map(items: list[str], environ: dict[str, str], from_env: bool) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in items:
        key, eq, value = item.partition("=")
        out[key] = value if eq else (environ.get(key) if from_env else "")
    return out


def _pack(context: Path, dockerfile: str | None, out: BinaryIO) -> str:
    """Write the context tar to ``out``; returns the Dockerfile name to send."""
    extra: tuple[tuple[str, bytes], ...] = ()
    name = "Dockerfile"
    if dockerfile == "-":
        name = ".dockerfile." + os.urandom(10).hex()
        extra = ((name, sys.stdin.buffer.read()),)
    elif dockerfile:
        path = Path(dockerfile)
        if not path.is_absolute():
            path = Path.cwd() / path
        try:
            name = path.resolve().relative_to(context.resolve()).as_posix()
        except ValueError:
            name = ".dockerfile." + os.urandom(10).hex()
            extra = ((name, path.read_bytes()),)
    if not extra and not (context / name).is_file():
        raise UsageError(f"Cannot locate specified Dockerfile: {dockerfile or name}")
    write_context_tar(context, out, read_dockerignore(context),
                      always=frozenset({name, ".dockerignore"}), extra=extra)
    return name


# docker build flags whose query parameters berthd's classic builder does not read.
_REFUSED_FLAGS = {
    "--add-host": "berthd's RUN steps take no extra hosts",
    "--cache-from": "berthd's build cache is local only",
    "--cgroup-parent": "berthd places RUN steps under its own cgroup parent",
    "--cpu-period": "berthd's RUN steps take no resource limits",
    "--cpu-quota": "berthd's RUN steps take no resource limits",
    "-c, --cpu-shares": "berthd's RUN steps take no resource limits",
    "--cpuset-cpus": "berthd's RUN steps take no resource limits",
    "--cpuset-mems": "berthd's RUN steps take no resource limits",
    "-m, --memory": "berthd's RUN steps take no resource limits",
    "--memory-swap": "berthd's RUN steps take no resource limits",
    "--shm-size": "berthd's RUN steps take no resource limits",
    "--ulimit": "berthd's RUN steps take no resource limits",
    "--security-opt": "berthd's RUN steps take no security options",
    "--isolation": "it is a Windows-only option",
    "--platform": "berthd builds for its own platform only",
    "--squash": "berthd does not squash layers",
}


def cmd_build(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("build", "Build an image from a Dockerfile")
    p.add_argument("-t", "--tag", action="append", default=[])
    p.add_argument("-f", "--file")
    p.add_argument("--build-arg", action="append", default=[])
    p.add_argument("--label", action="append", default=[])
    p.add_argument("--target", default="")
    p.add_argument("--no-cache", action=GoBool)
    p.add_argument("--rm", action=GoBool, default=True)
    p.add_argument("--force-rm", action=GoBool)
    p.add_argument("-q", "--quiet", action=GoBool)
    p.add_argument("--network", default="")
    p.add_argument("--iidfile")
    p.add_argument("--pull", action=GoBool)
    # Neither changes what is built: accepted, as docker accepts them, and not acted on.
    p.add_argument("--disable-content-trust", action=GoBool, default=True)
    p.add_argument("--compress", action=GoBool)
    add_refused(p, _REFUSED_FLAGS, frozenset({"--squash"}))
    p.add_argument("context")
    ns = p.parse_args(argv)
    check_refused(ns, _REFUSED_FLAGS)
    environ = dict(ctx.environ)
    with tempfile.TemporaryFile() as body:
        if ns.context == "-":
            if ns.file == "-":
                raise UsageError("invalid argument: can't use stdin for both build context and dockerfile")
            body.write(sys.stdin.buffer.read())
            name = ns.file or "Dockerfile"
        else:
            context = Path(ns.context)
            if not context.is_dir():
                ctx.error(f'unable to prepare context: path "{ns.context}" not found')
                return 1
            name = _pack(context, ns.file, body)
        body.seek(0)
        if ns.iidfile:
            Path(ns.iidfile).unlink(missing_ok=True)
        query: dict[str, Any] = {
            "t": ns.tag or None, "dockerfile": name, "q": ns.quiet or None,
            "nocache": ns.no_cache or None, "rm": ns.rm,
            "forcerm": ns.force_rm or None, "target": ns.target or None,
            "networkmode": ns.network or None, "pull": ns.pull or None,
            "buildargs": json.dumps(_kv_map(ns.build_arg, environ, True)),
            "labels": json.dumps(_kv_map(ns.label, environ, False)),
            "version": "1",
        }
        image_id = ""
        try:
            resp = ctx.client.request("POST", "/build", query, body=body,
                                      headers={"X-Registry-Config": build_auth_header(ctx)})
            for msg in decode_progress(resp.iter_lines()):
                if msg.aux.get("ID"):
                    image_id = str(msg.aux["ID"])
                if msg.stream:
                    if ns.quiet and msg.stream.startswith("sha256:"):
                        image_id = msg.stream.strip()
                    sys.stdout.write(msg.stream)
                    sys.stdout.flush()
                elif msg.status and not msg.progress and not ns.quiet:
                    # A base image pulled for FROM: its status lines, as docker build shows them.
                    sys.stdout.write(f"{msg.id}: {msg.status}\n" if msg.id else f"{msg.status}\n")
                    sys.stdout.flush()
        except StreamError as exc:
            ctx.fail(exc)
            return exc.code or 1
        except BerthError as exc:
            ctx.fail(exc)
            return 1
    if ns.iidfile and image_id:
        Path(ns.iidfile).write_text(image_id)
    return 0


def cmd_builder(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("builder", "Manage builds")
    p.add_argument("action", choices=["prune"])
    p.add_argument("-a", "--all", action=GoBool)
    p.add_argument("-f", "--force", action=GoBool)
    p.parse_args(argv)
    try:
        result = ctx.client.request("POST", "/build/prune").json()
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    deleted = result.get("CachesDeleted") or []
    if deleted:
        sys.stdout.write("Deleted build cache objects:\n" + "".join(f"{k}\n" for k in deleted) + "\n")
    sys.stdout.write(f"Total reclaimed space: {result.get('SpaceReclaimed', 0)}B\n")
    return 0
