"""Hostile archives for ``load`` are refused with a clear 400 and change nothing; berthd killed
(-9) in the middle of ``load`` and ``commit`` leaves a consistent store and the operation can
be retried."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, start_berthd, stop_berthd
from tests.daemon.apihttp import request
from tests.daemon.helpers import eventually

pytestmark = pytest.mark.root


def _tar(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buf.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _archive(layer: bytes, diff_id: str | None = None, layer_name: str = "l.tar",
             config_name: str = "c.json", drop: str = "") -> bytes:
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers",
                                    "diff_ids": [diff_id or "sha256:" + _sha(layer)]}}).encode()
    manifest = json.dumps([{"Config": config_name, "RepoTags": ["hostile:1"],
                            "Layers": [layer_name]}]).encode()
    files = {"manifest.json": manifest, "c.json": config, "l.tar": layer}
    files.pop(drop, None)
    return _tar(files)


def _load(sock: Path, body: bytes) -> tuple[int, bytes]:
    status, _, raw = request(str(sock), "POST", "/images/load?quiet=1", body=body,
                             headers={"Content-Type": "application/x-tar"})
    return status, raw


def _images(sock: Path) -> list[str]:
    _, _, raw = request(str(sock), "GET", "/images/json?all=1")
    return sorted(i["Id"] for i in json.loads(raw))


def test_hostile_load_archives_are_refused(daemon: Daemon, tmp_path: Path) -> None:
    layer = _tar({"f": b"x"})
    outside = tmp_path / "outside"
    cases = {
        "dotdot entry": _tar({"../../../../" + str(outside): b"owned", "manifest.json": b"[]"}),
        "absolute entry": _tar({str(outside): b"owned"}),
        "config path escapes": _archive(layer, config_name="../../../../etc/passwd"),
        "layer via link out": _tar({"manifest.json": json.dumps([{
            "Config": "c.json", "Layers": ["l.tar"]}]).encode(),
            "c.json": b"{}"}, links={"l.tar": "/etc/passwd"}),
        "missing layer": _archive(layer, drop="l.tar"),
        "missing config": _archive(layer, drop="c.json"),
        "digest mismatch": _archive(layer, diff_id="sha256:" + "0" * 64),
        "truncated": _archive(layer)[:700],
        "not a tar": b"hello world, this is not a tar archive at all" * 20,
        "no manifest": _tar({"x": b"y"}),
        "device node": b"",
    }
    dev = io.BytesIO()
    with tarfile.open(fileobj=dev, mode="w") as tar:
        info = tarfile.TarInfo("dev")
        info.type = tarfile.CHRTYPE
        info.devmajor, info.devminor = 1, 3
        tar.addfile(info)
    cases["device node"] = dev.getvalue()
    before = _images(daemon.socket)
    for what, body in cases.items():
        status, raw = _load(daemon.socket, body)
        assert status == 400, (what, status, raw)
        assert json.loads(raw)["message"], what
    assert not outside.exists()
    assert _images(daemon.socket) == before
    tmp = daemon.data_root / "tmp"
    assert not [p for p in tmp.iterdir() if p.name.startswith(("load-", "upload-"))]


def test_gzip_bomb_is_refused(daemon: Daemon) -> None:
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip framing
    chunk = b"\0" * (1 << 20)
    info = tarfile.TarInfo("big")
    info.size = 600 << 20
    parts = [comp.compress(info.tobuf())] + [comp.compress(chunk) for _ in range(600)]
    bomb = b"".join(parts) + comp.flush()
    assert len(bomb) < (8 << 20)
    status, raw = _load(daemon.socket, bomb)
    assert status == 400 and b"exceeds" in raw


# -- crashes ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def busybox_archive(daemon: Daemon) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bb.tar"
        r = daemon.docker("save", "-o", str(path), "busybox")
        assert r.returncode == 0, r.stderr
        yield path


def _start(base: Path, crash: str) -> Daemon:
    old = os.environ.get("BERTH_CRASH_AT")
    os.environ["BERTH_CRASH_AT"] = crash
    try:
        return start_berthd(base, "crashy")
    finally:
        if old is None:
            del os.environ["BERTH_CRASH_AT"]
        else:
            os.environ["BERTH_CRASH_AT"] = old


def _trash_empty(data_root: Path) -> bool:
    """The trash thread has deleted what it was handed (berth.store.trash): nothing in
    content/ingest, no snapshots/.rm-* (berthd serves while it deletes what a crash left)."""
    return not any((data_root / "content" / "ingest").iterdir()) and not any(
        p.name.startswith(".rm-") for p in (data_root / "snapshots").iterdir())


def _consistent(d: Daemon) -> None:
    """Every image's blobs exist, every blob is referenced, no ingest or temp residue once
    the trash thread is done."""
    eventually(lambda: _trash_empty(d.data_root))
    db = sqlite3.connect(f"file:{d.data_root / 'berth.db'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT id, manifest_digest FROM images").fetchall()
        snaps = {r[0] for r in db.execute("SELECT key FROM snapshots")}
    finally:
        db.close()
    blobs_dir = d.data_root / "content" / "blobs" / "sha256"
    blobs = {"sha256:" + p.name for p in blobs_dir.iterdir()}
    referenced: set[str] = set()
    for image_id, manifest_digest in rows:
        assert image_id in blobs and manifest_digest in blobs
        manifest = json.loads((blobs_dir / manifest_digest.removeprefix("sha256:")).read_bytes())
        referenced |= {image_id, manifest_digest, *(x["digest"] for x in manifest["layers"])}
        for layer in manifest["layers"]:
            assert layer["digest"] in blobs
    assert blobs <= referenced, blobs - referenced
    assert not list((d.data_root / "content" / "ingest").iterdir())
    assert not [k for k in snaps if k.startswith("extract-")]


def _docker(d: Daemon, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["docker", *args], env=d.env, input=input, capture_output=True,
                          timeout=60)


@pytest.mark.parametrize("point", ["load:staged", "load:layer", "load:blobs", "load:unpacked"])
def test_kill_during_load_then_retry(busybox_archive: Path, point: str, tmp_path: Path) -> None:
    base = Path(tempfile.mkdtemp(prefix="berth-test-", dir=tmp_path))
    d = _start(base, point)
    try:
        r = _docker(d, "load", "-i", str(busybox_archive))
        assert r.returncode != 0
        assert d.process is not None and d.process.wait(10) == -9
        d = start_berthd(base, "crashy")
        _consistent(d)
        assert _images(d.socket) == []
        r = _docker(d, "load", "-i", str(busybox_archive))
        assert r.returncode == 0, r.stderr
        assert _docker(d, "run", "--rm", "busybox", "echo", "ok").stdout == b"ok\n"
        _consistent(d)
    finally:
        _docker(d, "rm", "-f", *[c for c in _docker(d, "ps", "-aq").stdout.decode().split()])
        stop_berthd(d)
        from berth.testing.cleanup import cleanup_daemon_leftovers

        cleanup_daemon_leftovers(d.data_root, d.exec_root, d.cgroup_parent)


@pytest.mark.parametrize("point", ["commit:layer", "commit:blobs", "commit:unpacked"])
def test_kill_during_commit_then_retry(busybox_archive: Path, point: str, tmp_path: Path) -> None:
    base = Path(tempfile.mkdtemp(prefix="berth-test-", dir=tmp_path))
    d = start_berthd(base, "crashy")
    try:
        assert _docker(d, "load", "-i", str(busybox_archive)).returncode == 0
        r = _docker(d, "run", "--name", "crashme", "busybox", "sh", "-c", "echo kept > /kept")
        assert r.returncode == 0, r.stderr
        stop_berthd(d)
        d = _start(base, point)
        before = _images(d.socket)
        assert _docker(d, "commit", "crashme", "after:1").returncode != 0
        assert d.process is not None and d.process.wait(10) == -9
        d = start_berthd(base, "crashy")
        _consistent(d)
        assert _images(d.socket) == before
        r = _docker(d, "commit", "crashme", "after:1")
        assert r.returncode == 0, r.stderr
        assert _docker(d, "run", "--rm", "after:1", "cat", "/kept").stdout == b"kept\n"
        _consistent(d)
    finally:
        _docker(d, "rm", "-f", *[c for c in _docker(d, "ps", "-aq").stdout.decode().split()])
        stop_berthd(d)
        from berth.testing.cleanup import cleanup_daemon_leftovers

        cleanup_daemon_leftovers(d.data_root, d.exec_root, d.cgroup_parent)

