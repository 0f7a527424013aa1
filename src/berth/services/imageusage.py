"""Image history, ``image prune`` and ``system df``: reports and clean-up over the image store.

Owns Docker's answers for ``GET /images/{name}/history`` (newest first, ``<missing>`` for
layers no local image names, per-layer sizes from the unpacked snapshots), ``POST
/images/prune`` (dangling images, or with ``dangling=false`` every image no container
uses; children before parents) and the image and container parts of ``GET /system/df``.
Removal goes through ``ImageService.remove``, so prune follows rmi's rules exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from berth import errors
from berth.build.cache import BuildCache
from berth.images.records import Image
from berth.services.containerlist import tree_size
from berth.services.containers import ContainerService
from berth.services.images import ImageService
from berth.services.prunefilters import parse_prune_filters
from berth.services.volumes import VolumeService
from berth.timefmt import format_ns, parse_to_ns

__all__ = ["ImageUsageService"]

class ImageUsageService:
    def __init__(self, images: ImageService, containers: ContainerService,
                 volumes: VolumeService | None = None, build_cache: BuildCache | None = None) -> None:
        self._images = images
        self._containers = containers
        self._volumes = volumes
        self._build_cache = build_cache

    def _all(self) -> list[Image]:
        return [self._images.resolve(s["Id"]) for s in self._images.list_images(all=True)]

    # -- history -------------------------------------------------------------------------------

    def history(self, ref: str) -> list[dict[str, Any]]:
        image = self._images.resolve(ref)
        chains = image.chain_ids
        sizes: list[int] = []
        with self._images.exclusive() as (_, _, snapshots):
            for chain in chains:
                sizes.append(snapshots.usage(chain).size if snapshots.exists(chain) else 0)
        # Entries that end where a local parent image ends show that image, as moby does.
        owners: dict[int, Image] = {}
        current: Image | None = image
        while current is not None:
            owners[len(current.config.get("history") or [])] = current
            try:
                current = self._images.resolve(current.parent) if current.parent else None
            except errors.NotFound:
                current = None
        entries = list(image.config.get("history") or [])
        if not entries:
            entries = [{"created": image.config.get("created", "")}]
            owners[1] = image
        out: list[dict[str, Any]] = []
        layer = 0
        for i, h in enumerate(entries):
            size = 0
            if not h.get("empty_layer") and layer < len(sizes):
                size = sizes[layer]
                layer += 1
            owner = owners.get(i + 1)
            created = h.get("created") or ""
            out.append({
                "Id": owner.id if owner is not None else "<missing>",
                "Created": parse_to_ns(created) // 1_000_000_000 if created else 0,
                "CreatedBy": h.get("created_by", ""),
                "Tags": [r.familiar for r in owner.tags] if owner is not None and owner.tags
                else None,
                "Size": size,
                "Comment": h.get("comment", ""),
            })
        out.reverse()
        return out

    # -- prune ---------------------------------------------------------------------------------

    def prune(self, filters: Mapping[str, list[str]]) -> dict[str, Any]:
        wanted = parse_prune_filters(filters, extra=("dangling",))
        dangling_only = True
        for value in filters.get("dangling", []):
            if value.lower() in ("false", "0"):
                dangling_only = False
            elif value.lower() not in ("true", "1"):
                raise errors.InvalidArgument(f"Invalid filter 'dangling={value}'")
        in_use = self._containers.image_ids_in_use()
        deleted: list[dict[str, str]] = []
        reclaimed = 0
        # Children first: an image with a child cannot be deleted.
        for image in sorted(self._all(), key=lambda i: i.created, reverse=True):
            if image.id in in_use or (dangling_only and image.tags):
                continue
            labels = (image.config.get("config") or {}).get("Labels") or {}
            if not wanted.matches(image.created, labels):
                continue
            try:
                records = self._images.remove(image.id, force=True, in_use=in_use)
            except (errors.Conflict, errors.NotFound):
                continue
            deleted.extend(records)
            reclaimed += image.size
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    # -- df ------------------------------------------------------------------------------------

    def disk_usage(self) -> dict[str, Any]:
        containers = self._containers.list_containers(True, None, {})
        counts: dict[str, int] = {}
        for c in containers:
            counts[c.image_id] = counts.get(c.image_id, 0) + 1
        images = self._all()
        layer_users: dict[str, int] = {}
        for image in images:
            for chain in image.chain_ids:
                layer_users[chain] = layer_users.get(chain, 0) + 1
        layer_sizes: dict[str, int] = {}
        with self._images.exclusive() as (_, _, snapshots):
            for chain in layer_users:
                layer_sizes[chain] = snapshots.usage(chain).size if snapshots.exists(chain) else 0
        summaries = []
        for image in images:
            summary = self._images.list_images(all=True, filters={"reference": []})
            base = next((s for s in summary if s["Id"] == image.id), None)
            if base is None:
                continue
            shared = sum(layer_sizes[c] for c in image.chain_ids if layer_users[c] > 1)
            summaries.append({**base, "Containers": counts.get(image.id, 0),
                              "SharedSize": shared})
        container_rows = []
        for c in containers:
            sizes = self._containers.sizes(c)
            container_rows.append({**self._containers.decorate_summary(c, c.summary()),
                                   "SizeRw": sizes["rw"], "SizeRootFs": sizes["rootfs"]})
        return {"LayersSize": sum(layer_sizes.values()), "Images": summaries,
                "Containers": container_rows, "Volumes": self._volume_usage(),
                "BuildCache": self._build_cache_usage({i.id: i for i in images}, layer_sizes)}

    def _volume_usage(self) -> list[dict[str, Any]]:
        if self._volumes is None:
            return []
        users = self._volumes.usage()
        return [{**self._volumes.inspect(v),
                 "UsageData": {"Size": tree_size(v.mountpoint),
                               "RefCount": len(users.get(v.name, []))}}
                for v in self._volumes.list_volumes({})]

    def _build_cache_usage(self, images: Mapping[str, Image],
                           layer_sizes: Mapping[str, int]) -> list[dict[str, Any]]:
        """One record per cached build step. Its size is the layer the step added; the step's
        image holds that space, so a record is ``Shared`` when the image is also tagged (and
        then counted under Images)."""
        if self._build_cache is None:
            return []
        out: list[dict[str, Any]] = []
        for entry in self._build_cache.entries():
            image = images.get(entry.image_id)
            if image is None:
                continue  # the image went: the key is dead and never used again
            parent = images.get(image.parent) if image.parent else None
            added = [c for c in image.chain_ids if parent is None or c not in parent.chain_ids]
            created = format_ns(entry.created_ns)
            out.append({"ID": entry.key[:25], "Parent": image.parent.removeprefix("sha256:")[:25],
                        "Type": "regular", "Description": f"cached step -> {image.id[:19]}",
                        "InUse": False, "Shared": bool(image.tags),
                        "Size": sum(layer_sizes.get(c, 0) for c in added),
                        "CreatedAt": created, "LastUsedAt": created, "UsageCount": 1})
        return out
