"""``cp``: files between a container and the host through the archive API, docker's rules.

Owns the host side: turning a host path into a tar (top entry named for where it lands)
and extracting a container's tar onto the host. ``CONTAINER:SRC_PATH DEST`` extracts into
DEST when it is an existing directory, else creates DEST from SRC; ``SRC/.`` copies a
directory's contents. ``-`` streams a tar on stdin/stdout untouched. Extraction refuses
entries that would land outside the destination (absolute, ``..``, links pointing out):
the archive comes from a container and is untrusted.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from berth.cli.context import CLIContext, UsageError, make_parser
from berth.errors import BerthError, NotFound

__all__ = ["cmd_cp", "split_cp_arg"]

_CHUNK = 1 << 20


def split_cp_arg(arg: str) -> tuple[str | None, str]:
    """``container:path`` -> (container, path); a host path (absolute or ``./x:y``) -> (None, arg)."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    container, _, path = arg.partition(":")
    return container, path


def _stat(ctx: CLIContext, container: str, path: str) -> dict[str, Any] | None:
    try:
        resp = ctx.client.request("HEAD", f"/containers/{container}/archive", query={"path": path})
    except NotFound:
        return None
    resp.read()
    raw = resp.headers.get("X-Docker-Container-Path-Stat", "")
    stat: dict[str, Any] = json.loads(base64.b64decode(raw)) if raw else {}
    return stat


def _is_dir_mode(mode: int) -> bool:
    # Go's os.FileMode: ModeDir is the top bit.
    return bool(mode & (1 << 31))


def _rename_member(member: tarfile.TarInfo, old: str, new: str) -> bool:
    """Rename the top entry ``old`` to ``new`` (``""`` = strip it); False to drop the member."""
    if old == "/":
        # the root's entries are "/", "/bin", ... (as dockerd names them): put ``new`` before each
        rel = member.name.strip("/")
        if not rel and not new:
            return False
        member.name = "/".join(x for x in (new, rel) if x)
        if member.islnk():
            member.linkname = "/".join(x for x in (new, member.linkname.strip("/")) if x)
        return True
    name = member.name.rstrip("/")
    if name == old:
        if not new:
            return False
        member.name = new
    elif name.startswith(old + "/"):
        member.name = (new + "/" if new else "") + name[len(old) + 1:]
    if member.islnk() and (member.linkname == old or member.linkname.startswith(old + "/")):
        rest = member.linkname[len(old):].lstrip("/")
        member.linkname = "/".join(x for x in (new, rest) if x)
    return True


def _extract(archive: Path, dest_dir: Path, old: str, new: str) -> None:
    with tarfile.open(archive, "r:*") as tar:
        members = [m for m in tar.getmembers() if _rename_member(m, old, new)]
        try:
            tar.extractall(dest_dir, members=members, numeric_owner=True, filter="tar")
        except tarfile.FilterError as exc:
            raise UsageError(f"refusing to extract unsafe archive entry: {exc}") from exc


def _from_container(ctx: CLIContext, container: str, src: str, dest: str) -> int:
    try:
        resp = ctx.client.request("GET", f"/containers/{container}/archive", query={"path": src})
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    if dest == "-":
        out = sys.stdout.buffer
        while chunk := resp.read_some(_CHUNK):
            out.write(chunk)
        resp.close()
        out.flush()
        return 0
    raw = resp.headers.get("X-Docker-Container-Path-Stat", "")
    stat = json.loads(base64.b64decode(raw)) if raw else {}
    top = str(stat.get("name") or os.path.basename(src.rstrip("/")) or "/")
    src_is_dir = _is_dir_mode(int(stat.get("mode", 0)))
    contents_only = src.endswith("/.")
    dest_path = Path(dest)
    if dest_path.is_dir():
        where, new_top = dest_path, ("" if contents_only or top == "/" else top)
    else:
        error = ""
        if dest.endswith("/"):
            error = f"Error: destination directory {dest} must exist"
        elif not dest_path.parent.is_dir():
            error = f"Error: no such directory: {dest_path.parent}"
        elif dest_path.exists() and src_is_dir:
            error = f"Error: cannot copy a directory to a file: {dest}"
        if error:
            resp.close()
            ctx.error(error)
            return 1
        where, new_top = dest_path.parent, dest_path.name
    with tempfile.NamedTemporaryFile(prefix=".berth-cp-", dir=where) as spool:
        while chunk := resp.read_some(_CHUNK):
            spool.write(chunk)
        spool.flush()
        resp.close()
        _extract(Path(spool.name), where, top, new_top)
    return 0


def _tar_of(src: Path, arcname: str, contents_only: bool) -> Path:
    fd, name = tempfile.mkstemp(prefix="berth-cp-")
    os.close(fd)
    with tarfile.open(name, "w", format=tarfile.PAX_FORMAT) as tar:
        if contents_only:
            for child in sorted(src.iterdir()):
                tar.add(child, arcname=child.name)
        else:
            tar.add(src, arcname=arcname)
    return Path(name)


def _to_container(ctx: CLIContext, src: str, container: str, dest: str) -> int:
    dest_stat = _stat(ctx, container, dest)
    dest_is_dir = dest_stat is not None and _is_dir_mode(int(dest_stat.get("mode", 0)))
    if src == "-":
        if not dest_is_dir:
            ctx.error(f'Error response from daemon: destination "{container}:{dest}" must be '
                      "a directory")
            return 1
        return _put(ctx, container, dest, sys.stdin.buffer)
    src_path = Path(src)
    if not src_path.exists() and not src_path.is_symlink():
        ctx.error(f"lstat {src_path.absolute()}: no such file or directory")
        return 1
    contents_only = src.endswith("/.")
    if dest_is_dir:
        target, arcname = dest, src_path.resolve().name if contents_only else src_path.name
    else:
        if dest.endswith("/"):
            ctx.error(f'Error response from daemon: Could not find the file {dest} in container '
                      f"{container}")
            return 1
        if dest_stat is not None and src_path.is_dir():
            ctx.error(f"Error: cannot copy a directory to a file: {container}:{dest}")
            return 1
        target, arcname = os.path.dirname(dest.rstrip("/")) or "/", os.path.basename(dest.rstrip("/"))
        contents_only = False
    archive = _tar_of(src_path, arcname, contents_only and dest_is_dir)
    try:
        with archive.open("rb") as body:
            return _put(ctx, container, target, body)
    finally:
        archive.unlink()


def _put(ctx: CLIContext, container: str, target: str, body: io.BufferedIOBase | Any) -> int:
    try:
        ctx.client.request("PUT", f"/containers/{container}/archive",
                           query={"path": target, "noOverwriteDirNonDir": True},
                           body=body, headers={"Content-Type": "application/x-tar"}).read()
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    return 0


def cmd_cp(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("cp", "Copy files/folders between a container and the local filesystem")
    p.add_argument("-a", "--archive", action="store_true")
    p.add_argument("-L", "--follow-link", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("source")
    p.add_argument("destination")
    ns = p.parse_args(argv)
    src_ctr, src = split_cp_arg(ns.source)
    dst_ctr, dst = split_cp_arg(ns.destination)
    if src_ctr and dst_ctr:
        raise UsageError("copying between containers is not supported")
    if not src_ctr and not dst_ctr:
        raise UsageError("must specify at least one container source")
    if src_ctr:
        if not src:
            raise UsageError("source path cannot be empty")
        return _from_container(ctx, src_ctr, src, dst)
    assert dst_ctr is not None
    with contextlib.suppress(BrokenPipeError):
        return _to_container(ctx, src, dst_ctr, dst or "/")
    return 1
