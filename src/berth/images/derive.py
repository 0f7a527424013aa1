"""A new image on top of another: the parent's layers, optionally one new layer, a new config.

Owns writing a derived image (what each build step produces): the new layer blob (gzip,
diff ID over the uncompressed tar of a directory via ``berth.images.diff``), the config
with ``rootfs.diff_ids`` extended, a schema2 manifest listing the parent's layer blobs plus
the new one, the unpacked snapshot chain, and the image row (with its parent) in one
transaction. Any failure removes the blobs and snapshots this call created. Callers
serialise it with garbage collection, like an import.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from berth.errors import NotFound
from berth.images.diff import write_layer
from berth.images.importer import MEDIA_CONFIG, MEDIA_LAYER_GZIP, MEDIA_MANIFEST
from berth.images.layer import Limits
from berth.images.records import Image, ImageRecords, chain_ids
from berth.images.unpack import LayerBlob, unpack
from berth.snapshots.overlay import OverlaySnapshotter
from berth.store.content import ContentStore, Writer

__all__ = ["derive_image"]

from berth.store.metadata import Database


class _HashGzip:
    """Hashes the uncompressed tar (the diff ID) while gzipping it into a blob writer."""

    def __init__(self, w: Writer) -> None:
        self.sha = hashlib.sha256()
        self._gz = gzip.GzipFile(fileobj=w, mode="wb", mtime=0, filename="", compresslevel=1)

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self._gz.write(data)
        return len(data)

    def close(self) -> None:
        self._gz.close()


def derive_image(db: Database, content: ContentStore, snapshots: OverlaySnapshotter,
                 parent: Image | None, config: dict[str, Any], layer_dir: Path | None,
                 created_ns: int | None = None, limits: Limits | None = None) -> str:
    """Write the image ``parent`` + (``layer_dir`` as a layer) with ``config``; its ID.

    ``config`` is the full image config except ``rootfs``, which this function sets.
    """
    created_blobs: list[str] = []
    created_snaps: list[str] = []

    def put(data: bytes) -> str:
        with content.writer() as w:
            w.write(data)
            fresh = not content.exists(w.digest)
            digest = w.commit()
        if fresh:
            created_blobs.append(digest)
        return digest

    layers: list[dict[str, Any]] = []
    diff_ids: list[str] = list(parent.diff_ids) if parent else []
    if parent is not None and diff_ids:
        manifest = json.loads(content.read(parent.manifest_digest))
        layers = list(manifest.get("layers") or [])
    try:
        if layer_dir is not None:
            with content.writer() as w:
                sink = _HashGzip(w)
                write_layer(layer_dir, sink)
                sink.close()
                fresh = not content.exists(w.digest)
                digest = w.commit()
            if fresh:
                created_blobs.append(digest)
            diff_ids.append("sha256:" + sink.sha.hexdigest())
            layers.append({"mediaType": MEDIA_LAYER_GZIP, "size": content.size(digest),
                           "digest": digest})
        body = {**config, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
        raw_config = json.dumps(body, separators=(",", ":")).encode()
        config_digest = put(raw_config)
        manifest_digest = put(json.dumps({
            "schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "size": len(raw_config), "digest": config_digest},
            "layers": layers,
        }, separators=(",", ":")).encode())
        blobs = [LayerBlob(x["digest"], d) for x, d in zip(layers, diff_ids, strict=True)]
        created_snaps = unpack(content, snapshots, blobs, limits)
        size = sum(snapshots.usage(c).size for c in chain_ids(diff_ids))
        with db.transaction() as tx:
            ImageRecords.insert(tx, config_digest, manifest_digest, raw_config, size,
                                created_ns or time.time_ns(), parent.id if parent else "")
        return config_digest
    except BaseException:
        for chain in reversed(created_snaps):
            with suppress(NotFound):
                snapshots.remove(chain)
        for d in created_blobs:
            with suppress(NotFound):
                content.delete(d)
        raise
