"""Images whose layers berth stores uncompressed (``commit``, ``load``) pushed to a registry:
the manifest declares gzip layers whose blobs are gzip, Distribution's registry and berth's
own registry accept it, and ``docker pull`` of it on a clean store runs."""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from pathlib import Path

import pytest
import requests

from tests.registry.helpers import Server, start_berth_registry, start_distribution

pytestmark = pytest.mark.root

_ACCEPT = "application/vnd.docker.distribution.manifest.v2+json"


def _out(p) -> str:  # type: ignore[no-untyped-def]
    return p.stdout.decode() + p.stderr.decode()


@pytest.mark.parametrize("kind", ["distribution", "berth"])
def test_push_committed_image_then_pull_and_run(daemon, scratch: Path, kind: str) -> None:
    server: Server = (start_distribution if kind == "distribution" else start_berth_registry)(scratch)
    ctr = f"berth-pushc-{uuid.uuid4().hex[:8]}"
    name = f"{server.host}/local/committed:v1"
    try:
        p = daemon.docker("run", "--name", ctr, "busybox", "sh", "-c",
                          "echo committed-content > /marker")
        assert p.returncode == 0, _out(p)
        p = daemon.docker("commit", ctr, name)
        assert p.returncode == 0, _out(p)
        p = daemon.docker("push", name)
        assert p.returncode == 0, _out(p)
        assert "v1: digest: sha256:" in _out(p)
        # What the registry holds: every layer is gzip, its digest is over the gzip bytes,
        # and it decompresses to the diff ID the config names.
        manifest = requests.get(f"{server.url}/v2/local/committed/manifests/v1",
                                headers={"Accept": _ACCEPT}, timeout=10).json()
        config = requests.get(f"{server.url}/v2/local/committed/blobs/"
                              f"{manifest['config']['digest']}", timeout=10).json()
        assert len(manifest["layers"]) == len(config["rootfs"]["diff_ids"]) == 2
        for layer, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"], strict=True):
            assert layer["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"
            blob = requests.get(f"{server.url}/v2/local/committed/blobs/{layer['digest']}",
                                timeout=30).content
            assert layer["size"] == len(blob)
            assert "sha256:" + hashlib.sha256(blob).hexdigest() == layer["digest"]
            assert "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest() == diff_id
        # A second push finds every layer in place.
        p = daemon.docker("push", name)
        assert p.returncode == 0 and "Layer already exists" in _out(p), _out(p)
        assert daemon.docker("rm", ctr).returncode == 0
        assert daemon.docker("rmi", name).returncode == 0
        p = daemon.docker("pull", name)
        assert p.returncode == 0, _out(p)
        p = daemon.docker("run", "--rm", name, "cat", "/marker")
        assert p.stdout == b"committed-content\n", _out(p)
        inspect = json.loads(daemon.docker("image", "inspect", name).stdout)[0]
        assert inspect["RootFS"]["Layers"] == config["rootfs"]["diff_ids"]
    finally:
        daemon.docker("rm", "-f", ctr)
        daemon.docker("rmi", "-f", name)
        server.stop()


def test_push_imported_image_then_pull_and_run(daemon, scratch: Path, tmp_path: Path) -> None:
    """``import`` stores its layer uncompressed too: push gzips it, pull brings it back."""
    import io
    import tarfile

    server = start_berth_registry(scratch)
    name = f"{server.host}/local/imported:v1"
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        tar.add("/bin/busybox", arcname="bin/busybox")
        data = b"imported-content\n"
        info = tarfile.TarInfo("marker")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    try:
        p = daemon.docker("import", str(rootfs), name)
        assert p.returncode == 0, _out(p)
        p = daemon.docker("push", name)
        assert p.returncode == 0, _out(p)
        manifest = requests.get(f"{server.url}/v2/local/imported/manifests/v1",
                                headers={"Accept": _ACCEPT}, timeout=10).json()
        assert [x["mediaType"] for x in manifest["layers"]] == [
            "application/vnd.docker.image.rootfs.diff.tar.gzip"]
        assert daemon.docker("rmi", name).returncode == 0
        p = daemon.docker("pull", name)
        assert p.returncode == 0, _out(p)
        p = daemon.docker("run", "--rm", "--network", "none", name, "/bin/busybox", "cat", "/marker")
        assert p.stdout == b"imported-content\n", _out(p)
    finally:
        daemon.docker("rmi", "-f", name)
        server.stop()
