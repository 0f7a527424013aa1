"""Storing a locally produced image (``load``, ``commit``): blobs, unpacked layers, row and tags.

Owns the commit order shared by load and commit: layer tars are ingested as *uncompressed*
blobs (so a layer's blob digest is its diff ID: identical content is one blob, whichever
image or archive brought it), then the config and a Docker schema2 manifest, then the
layers are unpacked, and the image row and its references are written in one transaction.
Any failure removes what this call created; a crash leaves only unreferenced blobs and
snapshots, which garbage collection removes (``ImageService.collect_garbage``).

It must not parse archives or walk container directories: callers hand over tar files that
were already checked (``berth.images.load``, ``berth.images.commit``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from berth.errors import InvalidArgument, NotFound
from berth.images.compression import HashingReader, decompressor
from berth.images.layer import Limits
from berth.images.records import ImageRecords, chain_ids
from berth.images.reference import Reference
from berth.images.staging import ImageWrite, layer_descriptor, manifest_bytes
from berth.images.unpack import LayerBlob, unpack
from berth.snapshots.overlay import OverlaySnapshotter
from berth.store.content import ContentStore
from berth.store.metadata import Database
from berth.timefmt import parse_to_ns

__all__ = [
    "LayerSource",
    "NewImage",
    "ingest_tar",
    "store_image",
]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class LayerSource:
    """One layer to store: a tar file (plain or compressed) whose content hashes to ``diff_id``."""

    diff_id: str
    path: Path | None = None
    """None: the layer's blob is already in the store."""
    blob: str | None = None
    """With ``path`` None: the stored blob (e.g. gzip from a pull); None means ``diff_id``."""
    hashed: bool = False
    """``path`` is the uncompressed tar and its writer found it hashes to ``diff_id``: it is
    hard-linked into the store as the blob instead of copied and hashed again."""

    @property
    def digest(self) -> str:
        return self.blob or self.diff_id


@dataclass(frozen=True)
class NewImage:
    """An image to store: byte-exact config (its digest is the image ID), layers, names."""

    config: bytes
    layers: tuple[LayerSource, ...]
    references: tuple[Reference, ...] = ()
    parent: str = ""


def ingest_tar(content: ContentStore, path: Path, expected_diff_id: str | None,
               limits: Limits | None = None, hashed: bool = False) -> tuple[str, bool]:
    """Store the uncompressed content of ``path`` as a blob; returns (digest, newly written).

    A different digest than ``expected_diff_id`` is refused before anything is committed.
    ``hashed``: ``path`` is already the uncompressed tar with that digest (see LayerSource).
    """
    limits = limits or Limits()
    if expected_diff_id is not None and content.exists(expected_diff_id):
        return expected_diff_id, False
    if hashed and expected_diff_id is not None:
        return expected_diff_id, content.adopt(path, expected_diff_id)
    with path.open("rb") as raw, content.writer() as w:
        reader = HashingReader(decompressor(raw), limits.max_bytes + (1 << 30))
        while chunk := reader.read(_CHUNK):
            w.write(chunk)
        if expected_diff_id is not None and w.digest != expected_diff_id:
            raise InvalidArgument(f"layer content hashes to {w.digest}, but the image config "
                                  f"names {expected_diff_id}")
        fresh = not content.exists(w.digest)
        return w.commit(), fresh


def store_image(db: Database, content: ContentStore, snapshots: OverlaySnapshotter,
                image: NewImage, limits: Limits | None = None,
                checkpoint: Callable[[str], None] = lambda where: None) -> str:
    """Store ``image``; returns its ID. ``checkpoint`` marks steps (crash tests hook it)."""
    try:
        cfg = json.loads(image.config)
        diff_ids = [str(d) for d in cfg["rootfs"]["diff_ids"]]
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidArgument(f"invalid image config: {e}") from e
    if diff_ids != [layer.diff_id for layer in image.layers]:
        raise InvalidArgument("image config and layers disagree on the layer list")
    blobs: list[str] = []
    with ImageWrite(content, snapshots) as write:
        for layer in image.layers:
            if layer.path is None:
                if not content.exists(layer.digest):
                    raise NotFound(f"layer blob {layer.digest} is missing")
                blobs.append(layer.digest)
                continue
            blobs.append(write.blob(*ingest_tar(content, layer.path, layer.diff_id, limits, layer.hashed)))
            checkpoint("layer")
        config_digest = write.put(image.config)
        manifest_digest = write.put(manifest_bytes(
            config_digest, len(image.config),
            [layer_descriptor(content, b, d) for b, d in zip(blobs, diff_ids, strict=True)]))
        checkpoint("blobs")
        write.unpacked(unpack(content, snapshots,
                              [LayerBlob(b, d) for b, d in zip(blobs, diff_ids, strict=True)], limits))
        checkpoint("unpacked")
        size = sum(snapshots.usage(c).size for c in chain_ids(diff_ids))
        with db.transaction() as tx:
            ImageRecords.insert(tx, config_digest, manifest_digest, image.config, size,
                                _created_ns(cfg), image.parent)
            for ref in image.references:
                ImageRecords.set_reference(tx, ref, config_digest)
        return config_digest


def _created_ns(cfg: dict[str, object]) -> int:
    created = cfg.get("created")
    if isinstance(created, str) and created:
        with suppress(ValueError, InvalidArgument):
            return parse_to_ns(created)
    return time.time_ns()


def layer_sources(diff_ids: Sequence[str], paths: Sequence[Path | None]) -> tuple[LayerSource, ...]:
    return tuple(LayerSource(d, p) for d, p in zip(diff_ids, paths, strict=True))
