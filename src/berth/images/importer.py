"""``docker import``: a flat rootfs tar becomes a one-layer image.

Owns building the layer blob (the uncompressed tar, so its digest is the diff ID, as for
``load`` and ``commit``; Docker too stores imports uncompressed, and ``push`` compresses:
``berth.images.pushform``), the image config (with ``--change`` lines), the Docker schema2
manifest, the unpacked snapshot, and the image row + tag written in one transaction. Any
failure removes what this import created (blobs that did not exist before, snapshots it
made), so a rejected body leaves no residue.

Callers must serialise imports with garbage collection (``berth.services.images`` holds
one lock for both): until the row is written, the new blobs are referenced by nothing.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.images.changes import apply_changes
from berth.images.compression import Compression, detect
from berth.images.layer import Limits
from berth.images.records import ImageRecords
from berth.images.reference import Reference
from berth.images.staging import ImageWrite, layer_descriptor, manifest_bytes
from berth.images.stored import ingest_tar
from berth.images.unpack import LayerBlob, unpack
from berth.snapshots.overlay import OverlaySnapshotter
from berth.store.content import ContentStore, validate_digest
from berth.store.metadata import Database
from berth.timefmt import format_ns

__all__ = [
    "ImportRequest",
    "host_architecture",
    "import_rootfs",
]

_CHUNK = 1 << 20
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
         "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def host_architecture() -> str:
    """The host's architecture in Go's GOARCH spelling, as image configs use."""
    machine = platform.machine()
    return _ARCH.get(machine, machine)


@dataclass(frozen=True)
class ImportRequest:
    """What ``POST /images/create?fromSrc=-`` carries, already parsed."""

    tar_path: Path
    tag: Reference | None
    changes: tuple[str, ...] = ()
    message: str = ""
    digest: str | None = None
    """sha256 of the bytes at ``tar_path`` as whoever wrote them computed it; None: hashed here."""


def _layer_blob(content: ContentStore, source: Path, limits: Limits,
                digest: str | None) -> tuple[str, bool]:
    """Store the uncompressed ``source`` as the layer blob; returns (digest = diff ID, new).

    An uncompressed body is hashed in one read (none when ``digest`` is given) and
    hard-linked into the store (no copy); a compressed one is decompressed into a new blob.
    Compressing here (gzip level 9 at first, then 6) made import 6-12x slower than Docker
    for nothing: the store keeps local layers uncompressed and push compresses. Whether it
    is a tar at all is found out by unpacking, whose failure removes the blob again.
    """
    with source.open("rb") as raw:
        compressed = detect(raw.read(6)) is not Compression.NONE
        if not compressed and digest is None:
            raw.seek(0)
            h = hashlib.sha256()
            while chunk := raw.read(_CHUNK):
                h.update(chunk)
            digest = "sha256:" + h.hexdigest()
    if compressed or digest is None:
        return ingest_tar(content, source, None, limits)
    return digest, content.adopt(source, validate_digest(digest))


def import_rootfs(db: Database, content: ContentStore, snapshots: OverlaySnapshotter,
                  req: ImportRequest, limits: Limits | None = None,
                  checkpoint: Callable[[str], None] = lambda where: None) -> str:
    """Import ``req.tar_path`` as a new image; returns its ID (``sha256:<config digest>``).

    An uncompressed ``req.tar_path`` becomes the layer blob itself (hard-linked into the
    store): the caller must not write to it afterwards, only remove its name.

    ``checkpoint`` marks steps (``layer``, ``blobs``, ``unpacked``) for crash tests.
    """
    limits = limits or Limits()
    config = apply_changes({}, list(req.changes))  # bad change lines fail before any I/O
    with ImageWrite(content, snapshots) as write:
        layer_digest, fresh = _layer_blob(content, req.tar_path, limits, req.digest)
        diff_id = write.blob(layer_digest, fresh)
        checkpoint("layer")
        now = time.time_ns()
        created = format_ns(now)
        comment = req.message or "Imported from -"
        image_config: dict[str, Any] = {
            "architecture": host_architecture(),
            "comment": comment,
            "config": config,
            "created": created,
            "docker_version": "berth",  # dockerd names its engine here, as berth's commit does
            "history": [{"created": created, "comment": comment}],
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
        raw_config = json.dumps(image_config, separators=(",", ":")).encode()
        config_digest = write.put(raw_config)
        manifest_digest = write.put(manifest_bytes(
            config_digest, len(raw_config), [layer_descriptor(content, layer_digest, diff_id)]))
        checkpoint("blobs")
        write.unpacked(unpack(content, snapshots, [LayerBlob(layer_digest, diff_id)], limits))
        checkpoint("unpacked")
        # One layer: its chain ID is its diff ID.
        size = snapshots.usage(diff_id).size
        with db.transaction() as tx:
            ImageRecords.insert(tx, config_digest, manifest_digest, raw_config, size, now)
            if req.tag is not None:
                ImageRecords.set_reference(tx, req.tag, config_digest)
        return config_digest
