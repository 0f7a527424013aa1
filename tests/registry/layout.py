"""Test helper: write a small OCI image layout (busybox + random files) for skopeo to copy."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path


def _blob(root: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return "sha256:" + digest


def _layer(files: dict[str, bytes]) -> tuple[bytes, str]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), "sha256:" + hashlib.sha256(tar_bytes).hexdigest()


def write_layout(root: Path, tag: str = "latest", extra_layers: int = 1,
                 layer_size: int = 4096) -> str:
    """An OCI layout at ``root`` with busybox in layer 1; returns the manifest digest."""
    layers = [_layer({"bin/busybox": Path("/bin/busybox").read_bytes()})]
    for i in range(extra_layers):
        layers.append(_layer({f"data/file{i}": os.urandom(layer_size)}))
    descs = []
    for blob, _ in layers:
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                      "digest": _blob(root, blob), "size": len(blob)})
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/busybox", "echo", "hello from the registry"]},
        "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _blob(root, config), "size": len(config)},
        "layers": descs,
    }).encode()
    mdigest = _blob(root, manifest)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest,
        "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
    return mdigest
