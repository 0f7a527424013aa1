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
from pathlib import Path
from typing import Any

from berth.images.diff import write_layer
from berth.images.layer import Limits
from berth.images.records import Image, ImageRecords, chain_ids
from berth.images.staging import MEDIA_LAYER_GZIP, ImageWrite, manifest_bytes
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
    layers: list[dict[str, Any]] = []
    diff_ids: list[str] = list(parent.diff_ids) if parent else []
    if parent is not None and diff_ids:
        manifest = json.loads(content.read(parent.manifest_digest))
        layers = list(manifest.get("layers") or [])
    with ImageWrite(content, snapshots) as write:
        if layer_dir is not None:
            with content.writer() as w:
                sink = _HashGzip(w)
                write_layer(layer_dir, sink)
                sink.close()
                fresh = not content.exists(w.digest)
                digest = write.blob(w.commit(), fresh)
            diff_ids.append("sha256:" + sink.sha.hexdigest())
            layers.append({"mediaType": MEDIA_LAYER_GZIP, "size": content.size(digest),
                           "digest": digest})
        body = {**config, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
        raw_config = json.dumps(body, separators=(",", ":")).encode()
        config_digest = write.put(raw_config)
        manifest_digest = write.put(manifest_bytes(config_digest, len(raw_config), layers))
        blobs = [LayerBlob(x["digest"], d) for x, d in zip(layers, diff_ids, strict=True)]
        write.unpacked(unpack(content, snapshots, blobs, limits))
        size = sum(snapshots.usage(c).size for c in chain_ids(diff_ids))
        with db.transaction() as tx:
            ImageRecords.insert(tx, config_digest, manifest_digest, raw_config, size,
                                created_ns or time.time_ns(), parent.id if parent else "")
        return config_digest
