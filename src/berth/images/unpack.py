"""Unpacking layer blobs into a committed snapshot chain keyed by chain ID.

Owns the order of work per layer: prepare an extraction snapshot over the previous chain
ID, apply the blob, check its diff ID, commit under the chain ID. Snapshots already present
are reused. It must not write image rows or blobs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from berth.errors import InvalidArgument
from berth.images.layer import Limits, apply_layer
from berth.images.records import chain_ids
from berth.snapshots.overlay import OverlaySnapshotter
from berth.store.content import ContentStore

__all__ = ["LayerBlob", "unpack"]


@dataclass(frozen=True)
class LayerBlob:
    """A layer as the manifest and config name it: blob digest and uncompressed diff ID."""

    digest: str
    diff_id: str


def unpack(content: ContentStore, snapshots: OverlaySnapshotter, layers: Sequence[LayerBlob],
           limits: Limits | None = None) -> list[str]:
    """Make sure the chain for ``layers`` exists; returns the chain IDs this call created.

    On failure the snapshots this call created are removed again before the error propagates.
    """
    created: list[str] = []
    parent: str | None = None
    try:
        for layer, chain in zip(layers, chain_ids([x.diff_id for x in layers]), strict=True):
            if not snapshots.exists(chain):
                key = f"extract-{os.urandom(6).hex()} {chain}"
                snapshots.prepare(key, parent, labels={"berth.layer.digest": layer.digest})
                try:
                    stats = apply_layer(content.path(layer.digest), snapshots.upper_dir(key),
                                        limits, verified_digest=layer.digest)
                    if stats.diff_id != layer.diff_id:
                        raise InvalidArgument(
                            f"layer {layer.digest}: diff ID {stats.diff_id} does not match "
                            f"the image config's {layer.diff_id}"
                        )
                    snapshots.commit(chain, key)
                except BaseException:
                    snapshots.remove(key)
                    raise
                created.append(chain)
            parent = chain
    except BaseException:
        for chain in reversed(created):
            snapshots.remove(chain)
        raise
    return created
