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

import json
import platform
import tarfile
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.errors import InvalidArgument, NotFound
from berth.images.changes import apply_changes
from berth.images.compression import HashingReader, decompressor
from berth.images.layer import Limits
from berth.images.records import ImageRecords
from berth.images.reference import Reference
from berth.images.unpack import LayerBlob, unpack
from berth.snapshots.overlay import OverlaySnapshotter
from berth.store.content import ContentStore, Writer
from berth.store.metadata import Database
from berth.timefmt import format_ns

__all__ = [
    "MEDIA_CONFIG",
    "MEDIA_LAYER_GZIP",
    "MEDIA_LAYER_TAR",
    "MEDIA_MANIFEST",
    "ImportRequest",
    "host_architecture",
    "import_rootfs",
]

MEDIA_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MEDIA_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"

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


class _Tee:
    """Feeds every byte tarfile reads into the blob writer as well."""

    def __init__(self, reader: HashingReader, sink: Writer) -> None:
        self._reader = reader
        self._sink = sink

    def read(self, size: int = -1) -> bytes:
        data = self._reader.read(size)
        self._sink.write(data)
        return data


def _ingest_layer(content: ContentStore, source: Path, limits: Limits,
                  w: Writer) -> tuple[str, int]:
    """Copy the decompressed ``source`` into ``w`` while checking it is a tar; returns
    (diff_id, size). Compressing here (gzip level 9 at first, then 6) made import 6-12x slower
    than Docker for nothing: the store keeps local layers uncompressed and push compresses."""
    with source.open("rb") as raw:
        reader = HashingReader(decompressor(raw), limits.max_bytes + (1 << 30))
        tee = _Tee(reader, w)
        try:
            with tarfile.open(fileobj=tee, mode="r|") as tar:  # type: ignore[call-overload]
                for member in tar:
                    if member.isreg():
                        f = tar.extractfile(member)
                        while f is not None and f.read(1 << 20):
                            pass
        except tarfile.TarError as e:
            raise InvalidArgument(f"invalid tar archive: {e}") from e
        while tee.read(1 << 20):
            pass
    return reader.digest, reader.size


def import_rootfs(db: Database, content: ContentStore, snapshots: OverlaySnapshotter,
                  req: ImportRequest, limits: Limits | None = None,
                  checkpoint: Callable[[str], None] = lambda where: None) -> str:
    """Import ``req.tar_path`` as a new image; returns its ID (``sha256:<config digest>``).

    ``checkpoint`` marks steps (``layer``, ``blobs``, ``unpacked``) for crash tests.
    """
    limits = limits or Limits()
    config = apply_changes({}, list(req.changes))  # bad change lines fail before any I/O
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

    try:
        with content.writer() as w:
            diff_id, _ = _ingest_layer(content, req.tar_path, limits, w)
            fresh = not content.exists(w.digest)
            layer_digest = w.commit()
        if fresh:
            created_blobs.append(layer_digest)
        checkpoint("layer")
        now = time.time_ns()
        created = format_ns(now)
        comment = req.message or "Imported from -"
        image_config: dict[str, Any] = {
            "architecture": host_architecture(),
            "comment": comment,
            "config": config,
            "created": created,
            "history": [{"created": created, "comment": comment}],
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
        raw_config = json.dumps(image_config, separators=(",", ":")).encode()
        config_digest = put(raw_config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "size": len(raw_config),
                       "digest": config_digest},
            "layers": [{"mediaType": MEDIA_LAYER_TAR, "size": content.size(layer_digest),
                        "digest": layer_digest}],
        }
        manifest_digest = put(json.dumps(manifest, separators=(",", ":")).encode())
        checkpoint("blobs")
        created_snaps = unpack(content, snapshots, [LayerBlob(layer_digest, diff_id)], limits)
        checkpoint("unpacked")
        # One layer: its chain ID is its diff ID.
        size = snapshots.usage(diff_id).size
        with db.transaction() as tx:
            ImageRecords.insert(tx, config_digest, manifest_digest, raw_config, size, now)
            if req.tag is not None:
                ImageRecords.set_reference(tx, req.tag, config_digest)
        return config_digest
    except BaseException:
        for chain in reversed(created_snaps):
            with suppress(NotFound):
                snapshots.remove(chain)
        for digest in created_blobs:
            with suppress(NotFound):
                content.delete(digest)
        raise
