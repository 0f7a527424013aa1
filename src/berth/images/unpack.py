"""Unpacking layer blobs into a committed snapshot chain keyed by chain ID.

Owns the order of work: extract the missing layers (side by side), check their diff IDs,
then per layer prepare a snapshot over the previous chain ID, put the extracted tree in,
commit under the chain ID. Snapshots already present are reused. It must not write image
rows or blobs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from berth.errors import InvalidArgument
from berth.images.layer import Limits, apply_layer
from berth.images.records import chain_ids
from berth.snapshots.overlay import OverlaySnapshotter
from berth.store.content import ContentStore

__all__ = ["LayerBlob", "unpack"]

_MAX_WORKERS = 4


@dataclass(frozen=True)
class LayerBlob:
    """A layer as the manifest and config name it: blob digest and uncompressed diff ID."""

    digest: str
    diff_id: str


def unpack(content: ContentStore, snapshots: OverlaySnapshotter, layers: Sequence[LayerBlob],
           limits: Limits | None = None) -> list[str]:
    """Make sure the chain for ``layers`` exists; returns the chain IDs this call created.

    Missing layers are extracted side by side (a layer's files do not depend on its parent's),
    each into a scratch directory on the snapshot file system, then attached in chain order:
    prepare over the parent, rename the extracted tree onto the snapshot's empty upper dir,
    commit. On failure the snapshots this call created are removed again before the error
    propagates; scratch directories go with them (or, after a crash, with the snapshotter's
    garbage collection: they are ``.tmp-*``).
    """
    chains = chain_ids([x.diff_id for x in layers])
    missing = [i for i, chain in enumerate(chains) if not snapshots.exists(chain)]
    if not missing:
        return []
    created: list[str] = []
    scratch = Path(tempfile.mkdtemp(dir=snapshots.root, prefix=".tmp-unpack-"))
    try:
        trees = _extract_all(content, [layers[i] for i in missing], scratch, limits)
        extracted = dict(zip(missing, trees, strict=True))
        # Data before rows: the trees are on disk before any snapshot row says committed.
        # The renames below are metadata the file system journals in order, ahead of the
        # database's own later fsync.
        snapshots.sync()
        parent: str | None = None
        for i, (layer, chain) in enumerate(zip(layers, chains, strict=True)):
            if i in extracted:
                key = f"extract-{os.urandom(6).hex()} {chain}"
                snapshots.prepare(key, parent, labels={"berth.layer.digest": layer.digest})
                try:
                    os.rename(extracted[i], snapshots.upper_dir(key))
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
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return created


def _extract_all(content: ContentStore, layers: Sequence[LayerBlob], scratch: Path,
                 limits: Limits | None) -> list[Path]:
    """Extract each layer into ``scratch/<n>`` (in threads when there are several: the data is
    copied by the kernel and hashed by hashlib, both outside the GIL); returns the trees.
    The first failing layer's error (in layer order) is raised after all have stopped."""

    def one(n: int, layer: LayerBlob) -> Path:
        tree = scratch / str(n)
        stats = apply_layer(content.path(layer.digest), tree, limits,
                            verified_digest=layer.digest)
        if stats.diff_id != layer.diff_id:
            raise InvalidArgument(
                f"layer {layer.digest}: diff ID {stats.diff_id} does not match "
                f"the image config's {layer.diff_id}"
            )
        return tree

    if len(layers) == 1:
        return [one(0, layers[0])]
    workers = min(len(layers), os.cpu_count() or 1, _MAX_WORKERS)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="unpack") as pool:
        futures = [pool.submit(one, n, layer) for n, layer in enumerate(layers)]
        wait(futures)
    return [f.result() for f in futures]
