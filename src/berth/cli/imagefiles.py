"""Image and container file commands: ``commit``, ``diff``, ``export``, ``save``, ``load``,
``history``.

Owns their flags, API calls and docker's output (``sha256:<id>`` after commit, ``A/C/D path``
lines, ``Loaded image: x:y``, history's table). Archives go to ``-o FILE`` or stdout and are
never written to a terminal. Must not touch the daemon's files: everything goes through the API.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, BinaryIO

from berth.cli.context import CLIContext, GoBool, UsageError, make_parser
from berth.cli.formatting import render
from berth.cli.humanize import ellipsis
from berth.cli.reference import parse_reference
from berth.client.http import Response
from berth.client.progress import StreamError, decode_progress
from berth.errors import BerthError, InvalidArgument
from berth.humanize import human_duration, human_size

__all__ = ["cmd_commit", "cmd_diff", "cmd_export", "cmd_history", "cmd_load", "cmd_save"]

_CHUNK = 1 << 20
_KINDS = {0: "C", 1: "A", 2: "D"}
_HISTORY_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
                    "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}
_HISTORY_DEFAULT = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"


def cmd_commit(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("commit", "Create a new image from a container's changes")
    p.add_argument("-a", "--author", default="")
    p.add_argument("-m", "--message", default="")
    p.add_argument("-c", "--change", action="append", default=[])
    p.add_argument("-p", "--pause", action=GoBool, default=True)
    p.add_argument("container")
    p.add_argument("reference", nargs="?")
    ns = p.parse_args(argv)
    repo = tag = None
    if ns.reference:
        try:
            ref = parse_reference(ns.reference)
        except InvalidArgument as exc:
            raise UsageError(str(exc)) from exc
        if ref.digest:
            raise UsageError("refusing to create a tag with a digest reference")
        repo, tag = ref.normalized_name, ref.tag
    query: dict[str, Any] = {"container": ns.container, "repo": repo, "tag": tag,
                             "author": ns.author or None, "comment": ns.message or None,
                             "pause": ns.pause, "changes": ns.change or None}
    try:
        out = ctx.client.request("POST", "/commit", query=query, body={}).json()
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    sys.stdout.write(f"{out['Id']}\n")
    return 0


def cmd_diff(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("diff", "Inspect changes to files or directories on a container's filesystem")
    p.add_argument("container")
    ns = p.parse_args(argv)
    try:
        changes = ctx.client.request("GET", f"/containers/{ns.container}/changes").json() or []
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    sys.stdout.write("".join(f"{_KINDS.get(int(c['Kind']), '?')} {c['Path']}\n" for c in changes))
    return 0


def _stdout_archive() -> BinaryIO:
    if sys.stdout.isatty():
        raise UsageError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    return sys.stdout.buffer


def _copy_to(resp: Response, path: str | None) -> None:
    """Stream the body to ``path`` (written to a temp name first, like docker) or stdout."""
    if not path:
        out = _stdout_archive()
        while chunk := resp.read_some(_CHUNK):
            out.write(chunk)
        out.flush()
        resp.close()
        return
    tmp = f"{path}.berth-{os.getpid()}"
    try:
        with open(tmp, "wb") as out:
            while chunk := resp.read_some(_CHUNK):
                out.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    finally:
        resp.close()


def _download(ctx: CLIContext, path: str, query: dict[str, list[str]] | None,
              output: str | None) -> int:
    """GET an archive into ``output`` (atomically) or stdout (never a terminal)."""
    if not output:
        _stdout_archive()  # refuse a terminal before asking the daemon for anything
    try:
        resp = ctx.client.request("GET", path, query=query)
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    _copy_to(resp, output)
    return 0


def cmd_export(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("export", "Export a container's filesystem as a tar archive")
    p.add_argument("-o", "--output")
    p.add_argument("container")
    ns = p.parse_args(argv)
    return _download(ctx, f"/containers/{ns.container}/export", None, ns.output)


def cmd_save(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("save", "Save one or more images to a tar archive (streamed to STDOUT by default)")
    p.add_argument("-o", "--output")
    p.add_argument("--platform")
    p.add_argument("images", nargs="+")
    ns = p.parse_args(argv)
    return _download(ctx, "/images/get", {"names": list(ns.images)}, ns.output)


def cmd_load(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("load", "Load an image from a tar archive or STDIN")
    p.add_argument("-i", "--input")
    p.add_argument("-q", "--quiet", action=GoBool)
    p.add_argument("--platform")
    ns = p.parse_args(argv)
    source: BinaryIO
    if ns.input:
        try:
            source = open(ns.input, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            ctx.error(f"open {ns.input}: {(exc.strerror or str(exc)).lower()}")
            return 1
    else:
        if sys.stdin.isatty():
            ctx.error("requested load from stdin, but stdin is empty")
            return 1
        source = sys.stdin.buffer
    try:
        resp = ctx.client.request("POST", "/images/load", query={"quiet": ns.quiet or None},
                                  body=source, headers={"Content-Type": "application/x-tar"})
        for msg in decode_progress(resp.iter_lines()):
            text = msg.stream or (msg.status + "\n" if msg.status else "")
            sys.stdout.write(text)
    except StreamError as exc:
        ctx.fail(exc)
        return exc.code or 1
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    return 0


def history_rows(items: list[dict[str, Any]], *, human: bool, trunc: bool,
                 now: float) -> list[dict[str, Any]]:
    """docker history's template context per ``GET /images/{name}/history`` entry."""
    rows = []
    for h in items:
        iid = str(h.get("Id", ""))
        if trunc and iid.startswith("sha256:"):
            iid = iid.removeprefix("sha256:")[:12]
        created = float(h.get("Created") or 0)
        created_by = str(h.get("CreatedBy", "")).replace("\t", " ")
        size = int(h.get("Size") or 0)
        rows.append({
            "ID": iid,
            "CreatedSince": (human_duration(now - created) + " ago") if human
            else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
            "CreatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
            "CreatedBy": ellipsis(created_by, 45) if trunc else created_by,
            "Size": human_size(size) if human else str(size),
            "Comment": str(h.get("Comment", "")),
            "Tags": ", ".join(h.get("Tags") or []),
        })
    return rows


def cmd_history(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("history", "Show the history of an image")
    p.add_argument("-H", "--human", action=GoBool, default=True)
    p.add_argument("--no-trunc", action=GoBool)
    p.add_argument("-q", "--quiet", action=GoBool)
    p.add_argument("--format")
    p.add_argument("--platform")
    p.add_argument("image")
    ns = p.parse_args(argv)
    try:
        items = ctx.client.request("GET", f"/images/{ns.image}/history").json() or []
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    rows = history_rows(items, human=ns.human, trunc=not ns.no_trunc, now=time.time())
    if ns.quiet:
        sys.stdout.write("".join(r["ID"] + "\n" for r in rows))
        return 0
    # docker's table for -H=false shows the CREATED AT column instead of CREATED.
    default = _HISTORY_DEFAULT if ns.human else _HISTORY_DEFAULT.replace("CreatedSince", "CreatedAt")
    fmt = ns.format or default
    sys.stdout.write(render(default if fmt == "table" else fmt, rows, _HISTORY_HEADERS))
    return 0
