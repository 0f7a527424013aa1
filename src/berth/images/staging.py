"""Writing one new image into the store, all or nothing, and the manifest that names its blobs.

Owns what every image writer (import, load, pull, commit and build steps) shares: the record of
which blobs and snapshots this write created, so that a failure anywhere removes exactly those
(never something an earlier image already had), and the schema2 manifest listing the config
and layer blobs. The image row itself is each writer's own: what it records differs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import suppress
from types import TracebackType
from typing import Any

from berth.errors import NotFound
from berth.snapshots.overlay import OverlaySnapshotter
from berth.store.content import ContentStore

__all__ = [
    "MEDIA_CONFIG",
    "MEDIA_LAYER_GZIP",
    "MEDIA_LAYER_TAR",
    "MEDIA_MANIFEST",
    "ImageWrite",
    "layer_descriptor",
    "manifest_bytes",
]

MEDIA_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
MEDIA_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def _compact(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def layer_descriptor(content: ContentStore, blob: str, diff_id: str) -> dict[str, Any]:
    """The manifest entry of a stored layer blob: uncompressed when its digest is its diff ID."""
    media = MEDIA_LAYER_TAR if blob == diff_id else MEDIA_LAYER_GZIP
    return {"mediaType": media, "size": content.size(blob), "digest": blob}


def manifest_bytes(config_digest: str, config_size: int, layers: Sequence[dict[str, Any]]) -> bytes:
    """A schema2 manifest, compact JSON (its bytes are what the manifest digest covers)."""
    return _compact({
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "size": config_size, "digest": config_digest},
        "layers": list(layers),
    })


class ImageWrite:
    """A context for one image write: leaving it by an exception undoes what it created.

    Snapshots go first (newest first, children before parents), then blobs. Blobs and
    snapshots that existed before the write are never recorded, so never removed.
    """

    def __init__(self, content: ContentStore, snapshots: OverlaySnapshotter) -> None:
        self._content = content
        self._snapshots = snapshots
        self._blobs: list[str] = []
        self._snaps: list[str] = []

    def put(self, data: bytes) -> str:
        """Store ``data`` as a blob (config, manifest); its digest."""
        with self._content.writer() as w:
            w.write(data)
            fresh = not self._content.exists(w.digest)
            digest = w.commit()
        return self.blob(digest, fresh)

    def blob(self, digest: str, fresh: bool) -> str:
        """Note a blob stored by the caller; ``fresh`` when this write created it."""
        if fresh:
            self._blobs.append(digest)
        return digest

    def unpacked(self, chains: Sequence[str]) -> None:
        """Note snapshots this write created (as ``unpack`` returns them)."""
        self._snaps.extend(chains)

    def rollback(self) -> None:
        for chain in reversed(self._snaps):
            with suppress(NotFound):
                self._snapshots.remove(chain)
        for digest in self._blobs:
            with suppress(NotFound):
                self._content.delete(digest)
        self._snaps.clear()
        self._blobs.clear()

    def __enter__(self) -> ImageWrite:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            self.rollback()
