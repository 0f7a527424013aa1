"""``docker save``: one tarball that is both a docker-archive and an OCI image layout.

Owns the archive layout moby 25+ writes: every blob once under ``blobs/sha256/<hex>``
(image configs, uncompressed layer tars named by diff ID, OCI manifests), ``index.json`` +
``oci-layout`` for OCI tools, ``manifest.json`` + ``repositories`` for docker-archive readers.
A layer shared by several images is written once. Entries are sorted with fixed metadata,
so saving the same images twice gives the same bytes.

It must not resolve names: the image service passes Image values and the tags to record.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from berth.errors import Internal, NotFound
from berth.images.compression import HashingReader, decompressor
from berth.images.records import Image
from berth.images.reference import Reference
from berth.store.content import ContentStore

__all__ = ["SaveItem", "write_archive"]

_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SaveItem:
    """One image and the tags the archive records for it (none: saved by ID)."""

    image: Image
    tags: tuple[Reference, ...]


def _dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class _Writer:
    def __init__(self, out: BinaryIO) -> None:
        self._tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        self._dirs: set[str] = set()

    def _info(self, name: str, size: int, is_dir: bool = False) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.mtime = 0
        info.uname = info.gname = "root"  # dockerd's save names its own (root's) files
        info.mode = 0o755 if is_dir else 0o644
        info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
        info.size = 0 if is_dir else size
        return info

    def dirs(self, name: str) -> None:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self._dirs:
                self._dirs.add(d)
                self._tar.addfile(self._info(d + "/", 0, True))

    def data(self, name: str, data: bytes) -> None:
        self.dirs(name)
        self._tar.addfile(self._info(name, len(data)), io.BytesIO(data))

    def file(self, name: str, path: Path) -> None:
        self.dirs(name)
        with path.open("rb") as f:
            self._tar.addfile(self._info(name, os.fstat(f.fileno()).st_size), f)

    def close(self) -> None:
        self._tar.close()


def _layer_tar(content: ContentStore, image: Image, index: int, diff_id: str,
               scratch: Path) -> Path:
    """A file holding the uncompressed tar of layer ``index`` of ``image``."""
    if content.exists(diff_id):
        return content.path(diff_id)
    manifest = json.loads(content.read(image.manifest_digest))
    try:
        digest = manifest["layers"][index]["digest"]
    except (KeyError, IndexError, TypeError) as e:
        raise Internal(f"image {image.id}: manifest has no layer {index}") from e
    out = scratch / diff_id.removeprefix("sha256:")
    with content.open(digest) as raw, out.open("wb") as f:
        reader = HashingReader(decompressor(raw), 1 << 62)
        while chunk := reader.read(_CHUNK):
            f.write(chunk)
    if reader.digest != diff_id:
        raise Internal(f"layer blob {digest} of {image.id} does not hash to {diff_id}")
    return out


def write_archive(content: ContentStore, items: Sequence[SaveItem], out: BinaryIO,
                  scratch_parent: Path) -> None:
    """Write the archive of ``items`` to ``out`` (a stream; nothing is seeked)."""
    scratch = Path(tempfile.mkdtemp(prefix="save-", dir=scratch_parent))
    try:
        _write(content, items, out, scratch)
    except NotFound as e:
        raise Internal(f"save: {e}") from e
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _write(content: ContentStore, items: Sequence[SaveItem], out: BinaryIO,
           scratch: Path) -> None:
    blobs: dict[str, bytes | Path] = {}
    manifest_json: list[dict[str, object]] = []
    repositories: dict[str, dict[str, str]] = {}
    index: list[dict[str, object]] = []
    for item in items:
        image = item.image
        config = content.read(image.id)
        blobs[image.id] = config
        layer_names = []
        oci_layers = []
        for i, diff_id in enumerate(image.diff_ids):
            if diff_id not in blobs:
                blobs[diff_id] = _layer_tar(content, image, i, diff_id, scratch)
            path = blobs[diff_id]
            size = path.stat().st_size if isinstance(path, Path) else len(path)
            layer_names.append("blobs/sha256/" + diff_id.removeprefix("sha256:"))
            oci_layers.append({"mediaType": _OCI_LAYER, "digest": diff_id, "size": size})
        manifest = _dumps({
            "schemaVersion": 2, "mediaType": _OCI_MANIFEST,
            "config": {"mediaType": _OCI_CONFIG, "digest": image.id, "size": len(config)},
            "layers": oci_layers,
        })
        manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        blobs[manifest_digest] = manifest
        descriptor = {"mediaType": _OCI_MANIFEST, "digest": manifest_digest,
                      "size": len(manifest)}
        for tag in item.tags:
            index.append({**descriptor, "annotations": {
                "io.containerd.image.name": str(tag),
                "org.opencontainers.image.ref.name": tag.tag or "latest"}})
            if image.diff_ids:
                repositories.setdefault(tag.familiar_name, {})[tag.tag or "latest"] = (
                    image.diff_ids[-1].removeprefix("sha256:"))
        if not item.tags:
            index.append(descriptor)
        manifest_json.append({
            "Config": "blobs/sha256/" + image.id.removeprefix("sha256:"),
            "RepoTags": [t.familiar for t in item.tags] or None,
            "Layers": layer_names,
        })
    w = _Writer(out)
    for digest in sorted(blobs):
        name = "blobs/sha256/" + digest.removeprefix("sha256:")
        value = blobs[digest]
        if isinstance(value, Path):
            w.file(name, value)
        else:
            w.data(name, value)
    w.data("index.json", _dumps({"schemaVersion": 2, "mediaType": _OCI_INDEX,
                                 "manifests": index}))
    w.data("manifest.json", _dumps(manifest_json))
    w.data("oci-layout", _dumps({"imageLayoutVersion": "1.0.0"}))
    if repositories:
        w.data("repositories", _dumps(repositories))
    w.close()
