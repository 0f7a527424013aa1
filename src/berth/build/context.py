"""A received build context: unpacked safely, then trimmed by ``.dockerignore``.

The rules themselves are ``berth.buildcontext`` (shared with the CLI, which applies them
before sending); this is berthd's side: extraction refuses paths escaping the target and
device nodes, and ``apply_ignore`` deletes what the rules exclude from the unpacked tree
(the docker SDK and other clients may send an unfiltered context).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
from pathlib import Path

from berth.buildcontext import IgnorePatterns, walk_context
from berth.errors import InvalidArgument

__all__ = ["apply_ignore", "extract_context"]


def apply_ignore(root: Path, ignore: IgnorePatterns) -> None:
    """Delete from an extracted context everything ``.dockerignore`` excludes."""
    if not ignore.patterns:
        return
    kept = set(walk_context(root, ignore))
    keep_dirs = {posixpath.dirname(k) for k in kept}
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        for name in filenames + dirnames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            path = Path(dirpath) / name
            if rel in kept or any(k.startswith(rel + "/") for k in keep_dirs | kept):
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


def extract_context(tar_path: Path, dest: Path) -> None:
    """Unpack a received context (plain or compressed tar); paths must stay inside ``dest``."""
    try:
        with tarfile.open(tar_path, mode="r:*") as tar:
            tar.extractall(dest, filter=_context_filter)
    except tarfile.ReadError as e:
        if tar_path.stat().st_size == 0:
            return  # an empty body is an empty context
        raise InvalidArgument(f"failed to read the build context: {e}") from e
    except (tarfile.FilterError, OSError) as e:
        raise InvalidArgument(f"invalid build context: {e}") from e


def _context_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    if member.isdev():
        return None
    info = tarfile.data_filter(member, dest)
    # data_filter drops set-id bits and group/other write; the context keeps modes verbatim.
    return info.replace(mode=member.mode & 0o7777, uid=member.uid, gid=member.gid,
                        deep=False) if info is not None else None
