"""Storing an image fetched from a registry: blobs, unpacked layers, image row and references.

Owns the commit order of a pull: downloaded blobs (still open ingest writers, so nothing
half-fetched ever sits in ``blobs/``) are committed, layers unpacked one by one, then the
image row, its tag and its repo digest are written in one transaction. Any failure removes
what this call created. Callers serialise it with garbage collection, like an import.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from berth.errors import InvalidArgument, NotFound
from berth.images.layer import Limits
from berth.images.records import ImageRecords, chain_ids
from berth.images.reference import Reference
from berth.images.staging import ImageWrite
from berth.images.unpack import LayerBlob, unpack
from berth.snapshots.overlay import OverlaySnapshotter
from berth.store.content import ContentStore, Writer
from berth.store.metadata import Database

__all__ = ["PulledImage", "layer_blobs", "store_pulled"]


@dataclass(frozen=True)
class PulledImage:
    """What a pull fetched. ``pending`` are verified downloads not yet committed."""

    manifest_digest: str
    manifest: bytes
    config: bytes
    layers: tuple[LayerBlob, ...]
    pending: tuple[Writer, ...]
    references: tuple[Reference, ...]


def store_pulled(db: Database, content: ContentStore, snapshots: OverlaySnapshotter,
                 image: PulledImage, on_layer: Callable[[int, str], None],
                 limits: Limits | None = None) -> str:
    """Commit ``image``; ``on_layer(i, "Extracting"|"Pull complete")`` reports progress."""
    try:
        config = json.loads(image.config)
        diff_ids = list(config["rootfs"]["diff_ids"])
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidArgument(f"invalid image config: {e}") from e
    if len(diff_ids) != len(image.layers):
        raise InvalidArgument("image config and manifest disagree on the number of layers")
    with ImageWrite(content, snapshots) as write:
        try:
            for w in image.pending:
                fresh = not content.exists(w.digest)
                write.blob(w.commit(), fresh)
        except BaseException:
            for w in image.pending:
                w.abort_unless_committed()
            raise
        for layer in image.layers:
            if not content.exists(layer.digest):
                raise NotFound(f"layer {layer.digest} disappeared during the pull; pull again")
        config_digest = write.put(image.config)
        manifest_digest = write.put(image.manifest)
        chains = chain_ids(diff_ids)
        for i in range(len(image.layers)):
            if snapshots.exists(chains[i]):
                continue
            on_layer(i, "Extracting")
            write.unpacked(unpack(content, snapshots, image.layers[: i + 1], limits))
            on_layer(i, "Pull complete")
        size = sum(snapshots.usage(c).size for c in chains)
        with db.transaction() as tx:
            ImageRecords.insert(tx, config_digest, manifest_digest, image.config, size,
                                time.time_ns())
            for ref in image.references:
                ImageRecords.set_reference(tx, ref, config_digest)
        return config_digest


def layer_blobs(digests: Sequence[str], diff_ids: Sequence[str]) -> tuple[LayerBlob, ...]:
    return tuple(LayerBlob(d, i) for d, i in zip(digests, diff_ids, strict=True))
