"""Which /dev/shm a container gets, by its IPC mode, and the host-side shm mounts behind them.

Owns the rule moby applies: a ``private`` container has a tmpfs of its own inside its mount
namespace (specgen's default mount); ``none`` has no /dev/shm at all; ``shareable`` gets a
tmpfs mounted on the host under its bundle (``mounts/shm``, ShmSize, mode 1777, nosuid,
nodev, noexec) and bound onto /dev/shm, so a container that joins it (``container:<id>``)
binds the same tmpfs and sees the same files; ``host`` binds the host's /dev/shm. A user
mount on /dev/shm wins over all of these, and a shareable container with one has no shm
mount for joiners (moby's ``HasMountFor``).

The shareable tmpfs is mounted at start and lazily unmounted when the container exits or is
removed; joiners still running keep it alive until they exit. The tmpfs is in the host's
mount table, so a berthd that died after losing a container's record (or between its exit
and the unmount) left it mounted: berthd's start unmounts those no record owns
(:func:`sweep_orphans`) before the bundles without a record are deleted. It must not start,
stop or change containers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Set
from pathlib import Path
from typing import Any, Final

from berth import errors
from berth.mount import Mount, mount_all, mounted_under, unmount
from berth.services.container_model import Container

__all__ = ["has_own_shm", "release", "source", "sweep_orphans"]

_log = logging.getLogger("berth.containers")

_HOST_SHM: Final = "/dev/shm"
_DEFAULT_SIZE: Final = 64 * 1024 * 1024


def _user_mount_on_shm(host_config: Mapping[str, Any]) -> bool:
    binds = [str(b).split(":") for b in host_config.get("Binds") or []]
    if any(len(parts) > 1 and parts[1].rstrip("/") == _HOST_SHM for parts in binds):
        return True
    if any(str(m.get("Target") or "").rstrip("/") == _HOST_SHM for m in host_config.get("Mounts") or []):
        return True
    return any(str(t).rstrip("/") == _HOST_SHM for t in host_config.get("Tmpfs") or {})


def has_own_shm(c: Container) -> bool:
    """True when ``c`` keeps a host-side tmpfs for /dev/shm (shareable, no user mount there)."""
    return str(c.host_config.get("IpcMode") or "") == "shareable" and not _user_mount_on_shm(c.host_config)


def _donor_source(donor: Container) -> str | None:
    mode = str(donor.host_config.get("IpcMode") or "")
    if mode == "host":
        return _HOST_SHM
    if has_own_shm(donor) and os.path.ismount(donor.paths.shm):
        return str(donor.paths.shm)
    return None


def source(c: Container, donor: Container | None) -> str | None:
    """The host path to bind onto ``c``'s /dev/shm (None: specgen's default for the mode).

    Mounts a shareable container's tmpfs if it is not mounted yet; ``donor`` is the container
    whose IPC namespace ``c`` joins, already checked to be running and joinable.
    """
    if _user_mount_on_shm(c.host_config):
        return None
    mode = str(c.host_config.get("IpcMode") or "")
    if mode == "host":
        if not os.path.ismount(_HOST_SHM) and not os.path.isdir(_HOST_SHM):
            raise errors.InvalidArgument("/dev/shm is not mounted, but must be for --ipc=host")
        return _HOST_SHM
    if donor is not None:
        return _donor_source(donor)
    if mode != "shareable":
        return None
    target = c.paths.shm
    if not os.path.ismount(target):
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
        size = int(c.host_config.get("ShmSize") or 0) or _DEFAULT_SIZE
        mount_all([Mount(type="tmpfs", source="shm",
                         options=("nosuid", "nodev", "noexec", "mode=1777", f"size={size}"))],
                  str(target))
    return str(target)


def release(c: Container) -> None:
    """Lazily unmount ``c``'s host-side shm tmpfs, if mounted (any mode: cheap, and a record
    whose mode changed must not leave a mount under a bundle about to be deleted)."""
    target = c.paths.shm
    if target.exists():
        unmount(str(target))


def sweep_orphans(bundles_root: Path, owners: Set[str]) -> list[str]:
    """Lazily unmount every shm tmpfs at ``<bundles_root>/<id>/mounts/shm`` whose ``<id>`` is
    not in ``owners`` (as often as it is stacked); returns the mount points released. Call
    at start, before anything is started: no container can be using one then."""
    released: list[str] = []
    for target in mounted_under(str(bundles_root)):
        rel = Path(target).relative_to(bundles_root)
        if len(rel.parts) != 3 or rel.parts[1:] != ("mounts", "shm") or rel.parts[0] in owners:
            continue
        try:
            unmount(target)
        except errors.BerthError as err:
            _log.warning("shm mount %s: %s", target, err)
            continue
        _log.info("unmounted %s, the /dev/shm of a container with no record", target)
        released.append(target)
    return released
