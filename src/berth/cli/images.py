"""Image commands: ``images``, ``import``, ``tag``, ``rmi``.

Owns their flags, calls and output. Must not format containers or parse run flags.
"""

from __future__ import annotations

import sys
import time
from typing import BinaryIO

from berth.cli.context import CLIContext, GoBool, UsageError, add_refused, check_refused, make_parser
from berth.cli.formatting import IMAGE_HEADERS, image_rows, render
from berth.cli.objects import parse_filters
from berth.cli.reference import parse_reference
from berth.client import StreamError
from berth.errors import BerthError, InvalidArgument

__all__ = ["cmd_images", "cmd_import", "cmd_rmi", "cmd_tag"]

_IMAGES_DEFAULT = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
_IMAGES_DIGESTS = ("table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}"
                   "\t{{.Size}}")


def cmd_images(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("images", "List images")
    p.add_argument("-a", "--all", action=GoBool)
    p.add_argument("-q", "--quiet", action=GoBool)
    p.add_argument("--no-trunc", action=GoBool)
    p.add_argument("--digests", action=GoBool)
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format")
    refused = {"--tree": "berth lists images as a table only"}
    add_refused(p, refused, frozenset(refused))
    p.add_argument("repository", nargs="?")
    ns = p.parse_args(argv)
    check_refused(ns, refused)
    filters = parse_filters(ns.filter)
    if ns.repository:
        filters.setdefault("reference", []).append(ns.repository)
    try:
        items = ctx.client.list_images(all=ns.all, digests=ns.digests, filters=filters)
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    now = time.time()
    rows = [r for i in items
            for r in image_rows(i, trunc=not ns.no_trunc, digests=ns.digests, now=now)]
    if ns.quiet:
        # Like docker: one line per row, so an image with two tags is listed twice.
        sys.stdout.write("".join(r["ID"] + "\n" for r in rows))
        return 0
    fmt = ns.format or (_IMAGES_DIGESTS if ns.digests else _IMAGES_DEFAULT)
    if fmt == "table":
        fmt = _IMAGES_DEFAULT
    sys.stdout.write(render(fmt, rows, IMAGE_HEADERS))
    return 0


def cmd_import(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("import", "Import the contents from a tarball to create a filesystem image")
    p.add_argument("-c", "--change", action="append", default=[])
    p.add_argument("-m", "--message")
    p.add_argument("--platform")
    p.add_argument("file")
    p.add_argument("reference", nargs="?")
    ns = p.parse_args(argv)
    repo = None
    if ns.reference:
        try:
            ref = parse_reference(ns.reference)
        except InvalidArgument as exc:
            raise UsageError(str(exc)) from exc
        repo = ref.normalized_name + (f":{ref.tag}" if ref.tag else "")
    source: BinaryIO
    try:
        source = sys.stdin.buffer if ns.file == "-" else open(ns.file, "rb")  # noqa: SIM115
    except OSError as exc:
        ctx.error(f"open {ns.file}: {(exc.strerror or str(exc)).lower()}")
        return 1
    try:
        for msg in ctx.client.import_image(source, repo, ns.message, ns.change):
            if msg.status:
                sys.stdout.write(msg.status + "\n")
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


def cmd_tag(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE")
    p.add_argument("source")
    p.add_argument("target")
    ns = p.parse_args(argv)
    try:
        ref = parse_reference(ns.target)
    except InvalidArgument as exc:
        ctx.error(f'Error parsing reference: "{ns.target}" is not a valid repository/tag: {exc}')
        return 1
    try:
        ctx.client.tag_image(ns.source, ref.normalized_name, ref.tag or "latest")
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    return 0


def cmd_rmi(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("rmi", "Remove one or more images")
    p.add_argument("-f", "--force", action=GoBool)
    p.add_argument("--no-prune", action=GoBool)
    refused = {"--platform": "berthd keeps one platform of an image"}
    add_refused(p, refused)
    p.add_argument("images", nargs="+")
    ns = p.parse_args(argv)
    check_refused(ns, refused)
    status = 0
    for ref in ns.images:
        try:
            deleted = ctx.client.remove_image(ref, ns.force, ns.no_prune)
        except BerthError as exc:
            ctx.fail(exc)
            status = 1
            continue
        for item in deleted:
            if "Untagged" in item:
                sys.stdout.write(f"Untagged: {item['Untagged']}\n")
            if "Deleted" in item:
                sys.stdout.write(f"Deleted: {item['Deleted']}\n")
    return status
