"""ImageWrite undoes exactly what one image write created; the manifest it names blobs with."""

from __future__ import annotations

import hashlib
import json

import pytest

from berth.images.staging import (
    MEDIA_CONFIG,
    MEDIA_LAYER_GZIP,
    MEDIA_LAYER_TAR,
    MEDIA_MANIFEST,
    ImageWrite,
    layer_descriptor,
    manifest_bytes,
)
from berth.snapshots.overlay import OverlaySnapshotter

pytestmark = pytest.mark.root


def _layer(snap: OverlaySnapshotter, name: str, parent: str | None) -> None:
    snap.prepare(f"extract {name}", parent)
    (snap.upper_dir(f"extract {name}") / name).write_text(name)
    snap.commit(name, f"extract {name}")


def test_failure_removes_only_what_the_write_created(stores):
    content, snap = stores
    old_blob = content.put(b"already here")
    _layer(snap, "old", None)
    with pytest.raises(RuntimeError, match="boom"), ImageWrite(content, snap) as write:
        assert write.put(b"already here") == old_blob  # existed: not this write's
        new_blob = write.put(b"new config")
        _layer(snap, "l1", "old")
        _layer(snap, "l2", "l1")
        write.unpacked(["l1", "l2"])  # child after parent, as unpack returns them
        raise RuntimeError("boom")
    assert content.exists(old_blob) and snap.exists("old")
    assert not content.exists(new_blob)
    assert not snap.exists("l1") and not snap.exists("l2")


def test_success_keeps_everything(stores):
    content, snap = stores
    with ImageWrite(content, snap) as write:
        digest = write.put(b"config")
        _layer(snap, "l1", None)
        write.unpacked(["l1"])
    assert content.read(digest) == b"config" and snap.exists("l1")


def test_manifest_names_config_and_layers(stores):
    content, _ = stores
    tar = content.put(b"plain tar bytes")
    gz = content.put(b"gzip bytes")
    config = b'{"rootfs":{}}'
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    raw = manifest_bytes(config_digest, len(config), [
        layer_descriptor(content, tar, tar),
        layer_descriptor(content, gz, "sha256:" + "0" * 64),
    ])
    assert b" " not in raw  # compact: its bytes are what the digest covers
    doc = json.loads(raw)
    assert doc["schemaVersion"] == 2 and doc["mediaType"] == MEDIA_MANIFEST
    assert doc["config"] == {"mediaType": MEDIA_CONFIG, "size": len(config), "digest": config_digest}
    assert doc["layers"] == [
        {"mediaType": MEDIA_LAYER_TAR, "size": len(b"plain tar bytes"), "digest": tar},
        {"mediaType": MEDIA_LAYER_GZIP, "size": len(b"gzip bytes"), "digest": gz},
    ]
