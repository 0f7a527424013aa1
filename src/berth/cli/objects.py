"""What the object commands share: ``--filter`` flags, subcommand dispatch, and the shapes
of ``ls`` (``-q`` / ``--format`` / table), ``inspect`` of several names and ``rm`` of several
names, as the docker CLI prints them for networks and volumes.

Owns no command of its own and knows no object's fields: callers pass rows, paths and the
remove call. Errors of one name are reported and the rest still run (exit status 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from berth.cli.context import CLIContext, GoBool, UsageError, make_parser
from berth.cli.formatting import render
from berth.client.api import encode_filters
from berth.errors import BerthError

__all__ = ["Handler", "dispatch", "filters_query", "inspect_command", "labels_text", "list_command",
           "parse_filters", "remove_each"]

Handler = Callable[[CLIContext, list[str]], int]

_ALIASES = frozenset({"list", "remove"})  # docker's second names, left out of the usage text


def parse_filters(items: Iterable[str]) -> dict[str, list[str]]:
    """``-f key=value`` flags (repeatable) -> the API's filter map; keys lower-cased."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError("bad format of filter (expected name=value)")
        out.setdefault(key.strip().lower(), []).append(value)
    return out


def filters_query(filters: Mapping[str, list[str]]) -> dict[str, str] | None:
    """The ``filters`` query parameter, or no query when there are none."""
    enc = encode_filters(dict(filters))
    return {"filters": enc} if enc else None


def dispatch(group: str, handlers: Mapping[str, Handler], ctx: CLIContext, argv: list[str]) -> int:
    """Run ``berth <group> <sub> ...``; a missing or unknown subcommand is a usage error."""
    if not argv or argv[0] not in handlers:
        listed = ", ".join(sorted(k for k in handlers if k not in _ALIASES))
        raise UsageError(f"unknown {group} command: {argv[0]!r}" if argv
                         else f'"berth {group}" requires a subcommand: {listed}')
    return handlers[argv[0]](ctx, argv[1:])


def list_command(group: str, description: str, path: str,
                 rows: Callable[[Any, argparse.Namespace], list[dict[str, Any]]], *, quiet: str,
                 default: str, headers: Mapping[str, str], no_trunc: bool = False) -> Handler:
    """``<group> ls [-q] [-f FILTER] [--format FORMAT]`` (and ``--no-trunc`` when asked for):
    GET ``path`` with the filters; ``rows`` turns the answer and the flags into table rows.
    Prints the ``quiet`` column alone, else ``FORMAT`` (``table`` = ``default``)."""
    def run(ctx: CLIContext, argv: list[str]) -> int:
        p = make_parser(f"{group} ls", description)
        p.add_argument("-q", "--quiet", action=GoBool)
        if no_trunc:
            p.add_argument("--no-trunc", action=GoBool)
        p.add_argument("-f", "--filter", action="append", default=[])
        p.add_argument("--format")
        ns = p.parse_args(argv)
        found = rows(ctx.client.request("GET", path, query=filters_query(parse_filters(ns.filter))).json(),
                     ns)
        if ns.quiet:
            sys.stdout.write("".join(f"{r[quiet]}\n" for r in found))
        else:
            fmt = ns.format or default
            sys.stdout.write(render(default if fmt == "table" else fmt, found, headers))
        return 0

    return run


def labels_text(obj: Mapping[str, Any]) -> str:
    """An object's labels as ``ls`` shows them: ``k=v,k2=v2``."""
    return ",".join(f"{k}={v}" for k, v in (obj.get("Labels") or {}).items())


def inspect_command(group: str, collection: str) -> Handler:
    """``<group> inspect [-f FORMAT] NAME...``: GET ``/<collection>/<name>`` for each name;
    a JSON array, or ``FORMAT`` per object."""
    def run(ctx: CLIContext, argv: list[str]) -> int:
        p = make_parser(f"{group} inspect",
                        f"Display detailed information on one or more {collection}")
        p.add_argument("-f", "--format")
        p.add_argument("names", nargs="+")
        ns = p.parse_args(argv)
        return _inspect_each(ctx, f"/{collection}/", ns.names, ns.format)

    return run


def _inspect_each(ctx: CLIContext, prefix: str, names: list[str], fmt: str | None) -> int:
    found, rc = [], 0
    for name in names:
        try:
            found.append(ctx.client.request("GET", prefix + name).json())
        except BerthError as exc:
            ctx.fail(exc)
            rc = 1
    sys.stdout.write(render(fmt, found, {}) if fmt else json.dumps(found, indent=4) + "\n")
    return rc


def remove_each(ctx: CLIContext, path: Callable[[str], str], names: list[str], *,
                query: Mapping[str, str] | None = None, quiet_errors: bool = False) -> int:
    """``rm``: DELETE ``path(name)`` for each name and print it; failures are reported
    unless ``quiet_errors``."""
    rc = 0
    for name in names:
        try:
            ctx.client.request("DELETE", path(name), query=query).read()
            sys.stdout.write(name + "\n")
        except BerthError as exc:
            if not quiet_errors:
                ctx.fail(exc)
                rc = 1
    return rc
