"""Registry commands: ``pull``, ``push``, ``login``, ``logout`` and ``registry serve|garbage-collect``.

Owns their flags, the credentials file (docker-compatible ``config.json`` under
``$DOCKER_CONFIG`` or ``~/.docker``) and rendering progress streams: rich bars on a
terminal, docker's plain status lines otherwise. ``registry`` runs the registry server in
this process (it needs no berthd).
"""

from __future__ import annotations

import base64
import getpass
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from berth.cli.context import CLIContext, GoBool, UsageError, add_refused, check_refused, make_parser
from berth.cli.reference import parse_reference
from berth.client import StreamError
from berth.client.progress import ProgressMessage, decode_progress
from berth.errors import BerthError, InvalidArgument
from berth.registry.auth import (
    Credentials,
    encode_registry_config,
    load_all_credentials,
    load_credentials,
    remove_credentials,
    store_credentials,
)

__all__ = ["build_auth_header", "cmd_login", "cmd_logout", "cmd_pull", "cmd_push", "cmd_registry"]

_HUB = "docker.io"


def _config_path(ctx: CLIContext) -> Path:
    base = ctx.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return Path(base) / "config.json"


def _registry_of(normalized_name: str) -> str:
    return normalized_name.split("/", 1)[0]


def _auth_header(ctx: CLIContext, registry: str) -> str:
    creds = load_credentials(_config_path(ctx), registry)
    data: dict[str, str] = {}
    if creds.username:
        data = {"username": creds.username, "password": creds.password,
                "serveraddress": registry}
    if creds.identity_token:
        data["identitytoken"] = creds.identity_token
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def build_auth_header(ctx: CLIContext) -> str:
    """``X-Registry-Config`` for a build: every stored login, as the docker CLI sends it,
    since berthd only learns from the Dockerfile which registries the build pulls from."""
    return encode_registry_config(load_all_credentials(_config_path(ctx)))


def _render(messages: Iterator[ProgressMessage], quiet: bool) -> None:
    """Show a pull/push stream; raises StreamError on an in-band error."""
    if quiet:
        for _ in messages:
            pass
        return
    if not sys.stdout.isatty():
        for msg in messages:
            if msg.status and not msg.progress:
                sys.stdout.write(f"{msg.id}: {msg.status}\n" if msg.id else f"{msg.status}\n")
                sys.stdout.flush()
        return
    from rich.progress import BarColumn, Progress, TaskID, TextColumn

    bars = Progress(TextColumn("{task.fields[layer]}"), TextColumn("{task.description:<20}"),
                    BarColumn(), transient=False)
    tasks: dict[str, TaskID] = {}
    done = ("Pull complete", "Already exists", "Pushed", "Layer already exists",
            "Download complete")
    with bars:
        for msg in messages:
            if not msg.status:
                continue
            if not msg.id or (msg.id not in tasks and not _is_layer(msg)):
                bars.console.print(f"{msg.id}: {msg.status}" if msg.id else msg.status)
                continue
            if msg.id not in tasks:
                tasks[msg.id] = bars.add_task(msg.status, layer=msg.id, total=100)
            task = tasks[msg.id]
            bars.update(task, description=msg.status)
            fill = _fill(msg.progress)
            if fill is not None:
                bars.update(task, completed=fill)
            if msg.status in done or msg.status.startswith("Mounted from"):
                bars.update(task, completed=100)


def _is_layer(msg: ProgressMessage) -> bool:
    return len(msg.id) == 12 and all(c in "0123456789abcdef" for c in msg.id)


def _fill(text: str) -> float | None:
    """Percent filled of docker's ``[====>   ]`` bar text (the message carries no numbers)."""
    if not text.startswith("[") or "]" not in text:
        return None
    inner = text[1:text.index("]")]
    return 100.0 * inner.count("=") / max(len(inner), 1)


def cmd_pull(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("pull", "Download an image from a registry")
    p.add_argument("-q", "--quiet", action=GoBool)
    p.add_argument("-a", "--all-tags", action=GoBool)
    p.add_argument("--platform")
    # No effect without DOCKER_CONTENT_TRUST, in docker too; accepted so scripts keep working.
    p.add_argument("--disable-content-trust", action=GoBool, default=True)
    p.add_argument("name")
    ns = p.parse_args(argv)
    if ns.all_tags:
        raise UsageError("berth does not support --all-tags for pull: berthd pulls one tag at a time")
    try:
        ref = parse_reference(ns.name)
    except InvalidArgument as exc:
        raise UsageError(str(exc)) from exc
    if ref.tag is None and ref.digest is None and not ns.quiet:
        sys.stdout.write("Using default tag: latest\n")
    tag = ref.digest or ref.tag or "latest"
    name = ref.normalized_name
    resp = ctx.client.request("POST", "/images/create",
                              {"fromImage": name, "tag": tag, "platform": ns.platform},
                              headers={"X-Registry-Auth": _auth_header(ctx, _registry_of(name))})
    try:
        _render(decode_progress(resp.iter_lines()), ns.quiet)
    except StreamError as exc:
        ctx.error(exc.message)
        return 1
    familiar = ns.name if (ref.tag or ref.digest) else f"{ns.name}:latest"
    sys.stdout.write(f"{familiar}\n")
    return 0


def cmd_push(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("push", "Upload an image to a registry")
    p.add_argument("-q", "--quiet", action=GoBool)
    p.add_argument("-a", "--all-tags", action=GoBool)
    p.add_argument("--disable-content-trust", action=GoBool, default=True)
    refused = {"--platform": "berthd keeps one platform of an image"}
    add_refused(p, refused)
    p.add_argument("name")
    ns = p.parse_args(argv)
    check_refused(ns, refused)
    try:
        ref = parse_reference(ns.name)
    except InvalidArgument as exc:
        raise UsageError(str(exc)) from exc
    name = ref.normalized_name
    tag = "" if ns.all_tags else (ref.tag or "latest")
    if not ns.all_tags and ref.tag is None and not ns.quiet:
        sys.stdout.write("Using default tag: latest\n")
    resp = ctx.client.request("POST", f"/images/{name}/push", {"tag": tag},
                              headers={"X-Registry-Auth": _auth_header(ctx, _registry_of(name))})
    try:
        _render(decode_progress(resp.iter_lines()), ns.quiet)
    except StreamError as exc:
        ctx.error(exc.message)
        return 1
    if ns.quiet:
        sys.stdout.write(f"{ns.name}\n")
    return 0


def cmd_login(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("login", "Log in to a registry")
    p.add_argument("-u", "--username")
    p.add_argument("-p", "--password")
    p.add_argument("--password-stdin", action=GoBool)
    p.add_argument("server", nargs="?", default=_HUB)
    ns = p.parse_args(argv)
    if ns.password_stdin:
        if ns.password:
            raise UsageError("--password and --password-stdin are mutually exclusive")
        ns.password = sys.stdin.read().rstrip("\r\n")
    username = ns.username or (input("Username: ") if sys.stdin.isatty() else "")
    password = ns.password or (getpass.getpass("Password: ") if sys.stdin.isatty() else "")
    if not username or not password:
        ctx.error("Error: Cannot perform an interactive login from a non TTY device")
        return 1
    server = ns.server.removeprefix("https://").removeprefix("http://").split("/")[0]
    try:
        ctx.client.request("POST", "/auth", body={
            "username": username, "password": password, "serveraddress": server}).read()
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    store_credentials(_config_path(ctx), server, Credentials(username, password))
    sys.stdout.write("Login Succeeded\n")
    return 0


def cmd_logout(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("logout", "Log out from a registry")
    p.add_argument("server", nargs="?", default=_HUB)
    ns = p.parse_args(argv)
    server = ns.server.removeprefix("https://").removeprefix("http://").split("/")[0]
    if remove_credentials(_config_path(ctx), server):
        sys.stdout.write(f"Removing login credentials for {server}\n")
    else:
        sys.stdout.write(f"Not logged in to {server}\n")
    return 0


def cmd_registry(ctx: CLIContext, argv: list[str]) -> int:
    if not argv or argv[0] not in ("serve", "garbage-collect"):
        raise UsageError("Usage: berth registry serve [OPTIONS] [CONFIG] | "
                         "berth registry garbage-collect --root DIR [--dry-run]")
    from berth.registry.server.serve import main

    return main(argv)
