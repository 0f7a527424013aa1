from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import os

import pytest

from berth.errors import InvalidArgument
from berth.images.importer import ImportRequest, host_architecture, import_rootfs
from berth.images.reference import parse_normalized
from berth.snapshots.overlay import OverlaySnapshotter
from berth.store.content import ContentStore
from berth.store.metadata import Database
from berth.testing.rootfs import busybox_rootfs_tar

from .tarutil import make_tar

pytestmark = pytest.mark.root


@pytest.fixture
def env(tmp_path):
    db = Database(tmp_path / "berth.db")
    yield db, ContentStore(tmp_path / "content"), OverlaySnapshotter(tmp_path / "snapshots", db)
    db.close()


def residue(tmp_path):
    blobs = sorted(os.listdir(tmp_path / "content" / "blobs" / "sha256"))
    snaps = sorted(os.listdir(tmp_path / "snapshots"))
    return blobs, snaps, os.listdir(tmp_path / "content" / "ingest")


@pytest.mark.parametrize("compress", [None, gzip.compress, bz2.compress])
def test_import_busybox(env, tmp_path, compress):
    db, cs, snaps = env
    raw = busybox_rootfs_tar()
    body = tmp_path / "rootfs.tar"
    body.write_bytes(compress(raw) if compress else raw)
    ref = parse_normalized("busybox").with_default_tag()
    image_id = import_rootfs(db, cs, snaps, ImportRequest(
        body, ref, ('CMD ["sh"]', "ENV A=1", "LABEL k=v"), "my message"))
    config_raw = cs.read(image_id)
    assert image_id == "sha256:" + hashlib.sha256(config_raw).hexdigest()
    config = json.loads(config_raw)
    diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    assert config["rootfs"] == {"type": "layers", "diff_ids": [diff_id]}
    assert config["architecture"] == host_architecture() and config["os"] == "linux"
    assert config["config"] == {"Cmd": ["sh"], "Env": ["A=1"], "Labels": {"k": "v"}}
    assert config["history"][0]["comment"] == "my message"
    row = db.query("SELECT * FROM images")[0]
    manifest = json.loads(cs.read(row["manifest_digest"]))
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    layer = manifest["layers"][0]
    # Stored uncompressed, like load/commit (and Docker): blob digest = diff ID; push gzips.
    assert layer["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar"
    assert cs.read(layer["digest"]) == raw and layer["digest"] == diff_id
    assert layer["size"] == cs.size(layer["digest"])
    assert db.query("SELECT image_id FROM tags WHERE name = ?", (str(ref),))[0][0] == image_id
    fs = snaps.upper_dir(diff_id)
    assert (fs / "bin" / "busybox").stat().st_size > 0
    assert os.readlink(fs / "bin" / "sh") == "busybox"
    # Importing the same content again reuses the layer blob and the snapshot.
    again = import_rootfs(db, cs, snaps, ImportRequest(body, None))
    assert again != image_id
    assert [i.key for i in snaps.walk()] == [diff_id]


@pytest.mark.parametrize("body", [b"this is not a tar" * 100, b"", gzip.compress(b"junk" * 300)])
def test_non_tar_leaves_nothing(env, tmp_path, body):
    db, cs, snaps = env
    src = tmp_path / "body"
    src.write_bytes(body)
    with pytest.raises(InvalidArgument, match="tar"):
        import_rootfs(db, cs, snaps, ImportRequest(src, parse_normalized("x")))
    assert residue(tmp_path) == ([], [], [])
    assert db.query("SELECT count(*) FROM images")[0][0] == 0
    assert db.query("SELECT count(*) FROM snapshots")[0][0] == 0


def test_hostile_tar_and_bad_change_leave_nothing(env, tmp_path):
    db, cs, snaps = env
    src = tmp_path / "body"
    src.write_bytes(make_tar(("file", "ok", "x"), ("file", "../escape", "x")))
    with pytest.raises(InvalidArgument, match=r"'\.\.'"):
        import_rootfs(db, cs, snaps, ImportRequest(src, None))
    assert residue(tmp_path) == ([], [], [])
    assert not (tmp_path / "escape").exists()
    src.write_bytes(make_tar(("file", "ok", "x")))
    with pytest.raises(InvalidArgument, match="RUN is not a valid change command"):
        import_rootfs(db, cs, snaps, ImportRequest(src, None, ("RUN true",)))
    assert residue(tmp_path) == ([], [], [])
