"""What a killed berthd left under ``<data-root>/tmp``, removed at the next start.

Owns the start-time sweep of berthd's spool directory, run before anything else uses it:

- request bodies and archives spooled for a request (``import-``, ``upload-``, ``download-``,
  ``push-`` files, ``load-`` staging dirs);
- a build's spool (``tmp/build``: its context tar, extracted context and scratch roots, the
  empty mount points of its private mounts);
- the mount point ``docker cp`` or ``export`` put a stopped container's rootfs on
  (``rootfs-<id>-*``). That mount is in the host's mount table, so a berthd killed
  mid-copy left the container's overlay mounted there.

Every mount under the spool directory is detached first (at start nothing of berthd's is in
flight, and nothing but cp/export mounts there); a directory with a mount still under it
is left, never deleted through the mount into a container's files.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from berth import errors
from berth.mount import mounted_under, unmount

__all__ = ["sweep_spool"]

_log = logging.getLogger("berthd")

_FILES = ("import-", "upload-", "download-", "push-")
_DIRS = ("load-", "rootfs-")


def _mounts_under(root: Path) -> list[str]:
    return mounted_under(str(root))


def _detach_all(root: Path) -> None:
    # Deepest first; a target stacked several times is listed once per mount.
    for target in sorted(_mounts_under(root), key=len, reverse=True):
        try:
            unmount(target)
            _log.info("unmounted %s, left by a killed berthd", target)
        except errors.BerthError as err:
            _log.warning("spool mount %s: %s", target, err)


def _remove_tree(path: Path) -> None:
    if _mounts_under(path):
        _log.warning("%s still has a mount under it: left", path)
        return
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def sweep_spool(tmp: Path) -> None:
    """Empty ``tmp`` of what earlier berthds spooled; call before anything spools again."""
    if not tmp.is_dir():
        return
    _detach_all(tmp)
    for entry in tmp.iterdir():
        if entry.name.startswith(_FILES) and entry.is_file():
            entry.unlink(missing_ok=True)
        elif entry.name.startswith(_DIRS) and entry.is_dir() and not entry.is_symlink():
            _remove_tree(entry)
    build = tmp / "build"
    if build.is_dir() and not build.is_symlink():
        for entry in build.iterdir():
            _remove_tree(entry)
