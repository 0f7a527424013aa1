"""The form of a local image that goes to a registry: gzip layers, as Docker pushes them.

``commit`` and ``load`` store layers uncompressed (blob digest = diff ID). A registry accepts
such a manifest, but Docker always pushes gzip, and uncompressed layers waste bandwidth on
every pull. ``prepare_push`` compresses each uncompressed layer into a temp file (gzip,
level 6, no name, mtime 0: the same layer always gives the same bytes and digest, so a
second push finds it already there) and rewrites the manifest's layer descriptors; every
other manifest field is kept. Layers that are already compressed pass through untouched.

It owns those temp files (``PushForm.close`` removes them); it must not talk to registries.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.errors import InvalidArgument
from berth.store.content import ContentStore

__all__ = ["GZIP_LEVEL", "PushForm", "PushLayer", "prepare_push"]

GZIP_LEVEL = 6
_CHUNK = 1 << 20
_UNCOMPRESSED = {
    "application/vnd.docker.image.rootfs.diff.tar": "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.oci.image.layer.v1.tar": "application/vnd.oci.image.layer.v1.tar+gzip",
}


@dataclass(frozen=True)
class PushLayer:
    """One layer as pushed: its descriptor fields and where its bytes are (a temp file, or
    None when the stored blob ``digest`` is pushed as it is)."""

    media_type: str
    digest: str
    size: int
    path: Path | None = None


@dataclass(frozen=True)
class PushForm:
    manifest: bytes
    layers: tuple[PushLayer, ...]

    def close(self) -> None:
        for layer in self.layers:
            if layer.path is not None:
                with contextlib.suppress(FileNotFoundError):
                    layer.path.unlink()


def _gzip_blob(content: ContentStore, digest: str, tmp: Path) -> tuple[Path, str, int]:
    fd, name = tempfile.mkstemp(prefix="push-", dir=tmp)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out, content.open(digest) as src:
            hashing = _HashingWriter(out)
            with gzip.GzipFile(fileobj=hashing, mode="wb", mtime=0, filename="",
                               compresslevel=GZIP_LEVEL) as gz:
                while chunk := src.read(_CHUNK):
                    gz.write(chunk)
        return path, "sha256:" + hashing.hash.hexdigest(), hashing.size
    except BaseException:
        path.unlink(missing_ok=True)
        raise


class _HashingWriter:
    def __init__(self, out: Any) -> None:
        self._out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._out.write(data)
        self.hash.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self._out.flush()


def prepare_push(content: ContentStore, manifest: bytes, tmp: Path) -> PushForm:
    """The manifest and layers to push for the stored image manifest ``manifest``."""
    try:
        doc = json.loads(manifest)
        layers = list(doc.get("layers") or [])
    except (ValueError, AttributeError) as e:
        raise InvalidArgument(f"stored manifest is not valid JSON: {e}") from e
    if not any(x.get("mediaType") in _UNCOMPRESSED for x in layers):
        return PushForm(manifest, tuple(PushLayer(str(x["mediaType"]), str(x["digest"]),
                                                  int(x["size"])) for x in layers))
    tmp.mkdir(parents=True, exist_ok=True)
    out: list[PushLayer] = []
    try:
        for x in layers:
            media = str(x.get("mediaType"))
            if media not in _UNCOMPRESSED:
                out.append(PushLayer(media, str(x["digest"]), int(x["size"])))
                continue
            path, digest, size = _gzip_blob(content, str(x["digest"]), tmp)
            out.append(PushLayer(_UNCOMPRESSED[media], digest, size, path))
    except BaseException:
        PushForm(b"", tuple(out)).close()
        raise
    doc["layers"] = [{**x, "mediaType": p.media_type, "digest": p.digest, "size": p.size}
                     for x, p in zip(layers, out, strict=True)]
    return PushForm(json.dumps(doc, separators=(",", ":")).encode(), tuple(out))
