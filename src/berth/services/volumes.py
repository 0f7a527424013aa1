"""Volume use-cases: the volume API (create, list, inspect, remove, prune) and each
container's mount points (named/anonymous volumes, binds, volumes-from, copy-up).

In-use checks ask ``usage`` (set by the daemon's composition root to the container
service's view) which containers reference which volume, so a volume used by any container,
running or not, is a 409 to remove, as in Docker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping, Set
from pathlib import Path
from typing import Any

from berth import errors, ids
from berth.mount import Mount, mount_all, unmount
from berth.volumes import mounts as vmounts
from berth.volumes.store import ANONYMOUS_LABEL, Volume, VolumeStore

__all__ = ["VolumeService"]


def _labels_match(labels: Mapping[str, str], wanted: Iterable[str]) -> bool:
    for want in wanted:
        key, eq, value = want.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


class VolumeService:
    def __init__(self, store: VolumeStore, tmp_root: Path) -> None:
        self._store = store
        self._tmp = tmp_root
        self.usage: Callable[[], dict[str, list[str]]] = dict
        # (action, volume name, attributes): create, destroy, mount, unmount
        self.on_event: Callable[[str, str, dict[str, str]], None] = lambda action, name, attrs: None

    # ---- volume API ---------------------------------------------------------------------

    def create(self, body: Mapping[str, Any]) -> Volume:
        driver = str(body.get("Driver") or "local")
        if driver != "local":
            raise errors.NotFound(f"error looking up volume plugin {driver}: plugin \"{driver}\" not found")
        name = str(body.get("Name") or "")
        labels = dict(body.get("Labels") or {})
        if not name:
            name = ids.generate_id()
        return self._create(name, labels, dict(body.get("DriverOpts") or {}))

    def _create(self, name: str, labels: dict[str, str], options: dict[str, str],
                pending: str = "") -> Volume:
        try:
            return self._store.get(name)
        except errors.NotFound:
            pass
        v = self._store.create(name, labels, options, pending)
        self.on_event("create", name, {"driver": "local"})
        return v

    def _delete(self, name: str) -> None:
        self._store.delete(name)
        self.on_event("destroy", name, {"driver": "local"})

    def get(self, name: str) -> Volume:
        return self._store.get(name)

    def list_volumes(self, filters: Mapping[str, list[str]]) -> list[Volume]:
        for key in filters:
            if key not in ("name", "label", "dangling", "driver"):
                raise errors.InvalidArgument(f"Invalid filter '{key}'")
        used = self.usage()
        out = []
        for v in self._store.list():
            if filters.get("name") and not any(f in v.name for f in filters["name"]):
                continue
            if filters.get("driver") and v.driver not in filters["driver"]:
                continue
            if not _labels_match(v.labels, filters.get("label", [])):
                continue
            if filters.get("dangling"):
                want = filters["dangling"][0].lower() in ("1", "true")
                if (v.name not in used) != want:
                    continue
            out.append(v)
        return out

    def inspect(self, v: Volume) -> dict[str, Any]:
        return {"CreatedAt": v.created, "Driver": v.driver, "Labels": v.labels or None,
                "Mountpoint": str(v.mountpoint), "Name": v.name, "Options": v.options or None,
                "Scope": "local"}

    def remove(self, name: str, force: bool = False) -> None:
        try:
            self._store.get(name)
        except errors.NotFound:
            if force:
                return
            raise
        users = self.usage().get(name)
        if users:
            raise errors.Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
        self._delete(name)

    def prune(self, filters: Mapping[str, list[str]], all_volumes: bool) -> tuple[list[str], int]:
        for key in filters:
            if key not in ("label", "label!", "all"):
                raise errors.InvalidArgument(f"Invalid filter '{key}'")
        if filters.get("all"):
            all_volumes = filters["all"][0].lower() in ("1", "true")
        used = self.usage()
        gone, space = [], 0
        for v in self._store.list():
            if v.name in used or (not all_volumes and not v.anonymous):
                continue
            if not _labels_match(v.labels, filters.get("label", [])):
                continue
            if filters.get("label!") and _labels_match(v.labels, filters["label!"]):
                continue
            space += self._store.size(v)
            self._delete(v.name)
            gone.append(v.name)
        return gone, space

    # ---- containers ---------------------------------------------------------------------

    def plan(self, config: Mapping[str, Any], host_config: Mapping[str, Any],
             volumes_from: Iterable[tuple[list[vmounts.MountPoint], str]],
             container_id: str = "") -> list[vmounts.MountPoint]:
        """Resolve and create what a new container mounts; bad input changes nothing.
        Anonymous volumes made for ``container_id`` stay pending until :meth:`settle`."""
        points = vmounts.plan(config, host_config, volumes_from, ids.generate_id)
        for mp in points:
            if mp.type == "bind" and mp.origin == "mounts" and not os.path.exists(mp.source):
                raise errors.InvalidArgument(f"invalid mount config for type \"bind\": bind source path "
                                             f"does not exist: {mp.source}")
            if mp.type == "volume" and mp.origin != "volumes-from" and not mp.anonymous:
                vmounts_name_ok = mp.name and not mp.name.startswith("/")
                if not vmounts_name_ok:
                    raise errors.InvalidArgument(f"invalid volume name {mp.name!r}")
        made: list[vmounts.MountPoint] = []
        try:
            for mp in points:
                if mp.type == "bind" and mp.origin == "binds" and not os.path.exists(mp.source):
                    # -v creates a missing source directory, as Docker does.
                    os.makedirs(mp.source, exist_ok=True)
                elif mp.type == "volume" and mp.origin != "volumes-from":
                    self._create(mp.name, {ANONYMOUS_LABEL: ""} if mp.anonymous else {}, {},
                                 container_id if mp.anonymous else "")
                    made.append(mp)
        except BaseException:
            # A later volume refused (an invalid name): the anonymous ones made so far go,
            # as after any failed create; named ones stay, as in moby.
            self.discard(made)
            raise
        return points

    @staticmethod
    def _made_for(points: Iterable[vmounts.MountPoint]) -> list[str]:
        """The anonymous volumes ``plan`` made for the container (not those of volumes-from)."""
        return [mp.name for mp in points
                if mp.type == "volume" and mp.anonymous and mp.origin != "volumes-from"]

    def settle(self, points: Iterable[vmounts.MountPoint]) -> None:
        """The container planned with ``points`` is recorded: its anonymous volumes are its."""
        names = self._made_for(points)
        if names:
            self._store.settle(names)

    def discard(self, points: Iterable[vmounts.MountPoint]) -> None:
        """A create that failed after ``plan``: its anonymous volumes go with it (as moby)."""
        for name in self._made_for(points):
            with contextlib.suppress(errors.BerthError):
                self._delete(name)

    def pend(self, names: Iterable[str], container_id: str) -> None:
        """``rm -v`` of ``container_id`` will delete these: pending until then."""
        names = list(names)
        if names:
            self._store.mark_pending(names, container_id)

    def collect_pending(self, recorded: Set[str], in_use: Set[str] = frozenset()) -> list[str]:
        """At berthd start: delete the pending volumes whose container has no record (a create
        that died before its record, a ``rm -v`` that died before deleting them) unless a
        recorded container mounts them (``in_use``), settle the others, and delete volume
        directories no row names; returns the names deleted."""
        gone, settled = [], []
        for name, owner in self._store.pending().items():
            if owner in recorded or name in in_use:
                settled.append(name)
            else:
                self._delete(name)
                gone.append(name)
        if settled:
            self._store.settle(settled)
        return [*gone, *self._store.collect_garbage()]

    def mounted(self, container_id: str, points: Iterable[vmounts.MountPoint]) -> None:
        """A container starts with these mount points: a ``mount`` event per named volume,
        with moby's attributes."""
        for mp in points:
            if mp.type == "volume":
                self.on_event("mount", mp.name, {
                    "driver": "local", "container": container_id, "destination": mp.destination,
                    "read/write": "true" if mp.rw else "false", "propagation": mp.propagation})

    def unmounted(self, container_id: str, points: Iterable[vmounts.MountPoint]) -> None:
        """The container stopped: an ``unmount`` event per named volume."""
        for mp in points:
            if mp.type == "volume":
                self.on_event("unmount", mp.name, {"driver": "local", "container": container_id})

    def paths(self, points: Iterable[vmounts.MountPoint]) -> dict[str, str]:
        return {mp.name: str(self._store.get(mp.name).mountpoint)
                for mp in points if mp.type == "volume"}

    async def copy_up(self, points: Iterable[vmounts.MountPoint], rootfs: list[Mount]) -> None:
        """Copy the image's files at each volume's destination into the volume if it is empty."""
        todo = []
        for mp in points:
            if mp.type != "volume" or not mp.copy_up or mp.origin == "volumes-from":
                continue
            data = self._store.get(mp.name).mountpoint
            with contextlib.suppress(OSError):
                if not any(data.iterdir()):
                    todo.append((mp.destination, data))
        if todo:
            await asyncio.to_thread(self._copy_up, todo, rootfs)

    def _copy_up(self, todo: list[tuple[str, Path]], rootfs: list[Mount]) -> None:
        self._tmp.mkdir(parents=True, exist_ok=True)
        root = tempfile.mkdtemp(prefix="copyup-", dir=self._tmp)
        try:
            mount_all(rootfs, root)
            try:
                for dest, data in todo:
                    src = Path(root + dest)
                    if not src.is_dir() or src.is_symlink():
                        continue
                    st = src.stat()
                    os.chown(data, st.st_uid, st.st_gid)
                    os.chmod(data, st.st_mode & 0o7777)
                    proc = subprocess.run(["cp", "-a", f"{src}/.", f"{data}/"], capture_output=True,
                                          text=True)
                    if proc.returncode != 0:
                        raise errors.Internal(f"copy image data to volume: {proc.stderr.strip()}")
            finally:
                for _ in rootfs:
                    unmount(root)
        finally:
            with contextlib.suppress(OSError):
                os.rmdir(root)

    def anonymous_names(self, points: Iterable[vmounts.MountPoint]) -> list[str]:
        return [mp.name for mp in points if mp.type == "volume" and mp.anonymous]
