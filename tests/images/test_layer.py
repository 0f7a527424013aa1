from __future__ import annotations

import hashlib
import os
import stat

import pytest

from berth.errors import InvalidArgument
from berth.images.diff import layer_bytes
from berth.images.layer import Limits, apply_layer

from .tarutil import make_tar

pytestmark = pytest.mark.root


@pytest.fixture(params=[False, True], ids=["stream", "verified"])
def apply(request):
    """apply_layer as a stream (hashed while extracted) or as a verified content-store blob
    (uncompressed: seeked, data copied in the kernel); both must accept and refuse alike."""
    def run(src, target, limits=None):
        digest = "sha256:" + hashlib.sha256(src.read_bytes()).hexdigest() if request.param else None
        return apply_layer(src, target, limits, verified_digest=digest)
    return run


@pytest.mark.parametrize("compression", ["", "gz", "bz2", "xz"])
def test_apply_plain_and_compressed(tmp_path, compression, apply):
    plain = make_tar(("dir", "etc", b""), ("file", "etc/hostname", "box\n"),
                     ("sym", "etc/link", "hostname"), ("link", "etc/hard", "etc/hostname"),
                     ("chr", "null", b""))
    data = plain if not compression else make_tar(
        ("dir", "etc", b""), ("file", "etc/hostname", "box\n"), ("sym", "etc/link", "hostname"),
        ("link", "etc/hard", "etc/hostname"), ("chr", "null", b""), compression=compression)
    src = tmp_path / "layer"
    src.write_bytes(data)
    target = tmp_path / "out"
    stats = apply(src, target)
    assert (target / "etc" / "hostname").read_text() == "box\n"
    assert os.readlink(target / "etc" / "link") == "hostname"
    assert os.stat(target / "etc" / "hard").st_ino == os.stat(target / "etc" / "hostname").st_ino
    assert stat.S_ISCHR(os.lstat(target / "null").st_mode)
    assert os.stat(target / "etc").st_mtime == 1_700_000_000
    assert stats.entries == 5 and stats.size == 4
    if not compression:
        assert stats.diff_id == "sha256:" + hashlib.sha256(plain).hexdigest()


def test_whiteouts_become_overlay_whiteouts(tmp_path):
    src = tmp_path / "layer"
    src.write_bytes(make_tar(("file", "a/.wh.gone", b""), ("file", "d/.wh..wh..opq", b""),
                             ("file", "d/new", "n"), ("file", ".wh..wh.plnk", b"")))
    target = tmp_path / "out"
    apply_layer(src, target)
    st = os.lstat(target / "a" / "gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert os.getxattr(target / "d", "trusted.overlay.opaque") == b"y"
    assert sorted(os.listdir(target)) == ["a", "d"]


@pytest.mark.parametrize(("entries", "message"), [
    ((("file", "../evil", "x"),), "'..'"),
    ((("file", "a/../../evil", "x"),), "'..'"),
    ((("file", "/etc/evil", "x"),), "absolute path"),
    ((("sym", "esc", "/"), ("file", "esc/evil", "x")), "is a symlink"),
    ((("sym", "esc", "../../.."), ("dir", "esc/sub", b"")), "is a symlink"),
    ((("link", "hl", "/etc/passwd"),), "absolute path"),
    ((("link", "hl", "../../etc/passwd"),), "'..'"),
    ((("link", "hl", "missing"),), "does not exist"),
    ((("sym", "s", "/etc"), ("link", "hl", "s/passwd")), "is a symlink"),
    ((("file", "f", "x"), ("file", "f/g", "y")), "not a directory"),
    ((("file", "ok", "x"), ("file", "a/.wh..", b"")), "invalid whiteout"),
])
def test_hostile_layers_rejected_without_residue(tmp_path, entries, message, apply):
    outside = tmp_path / "outside"
    outside.mkdir()
    src = tmp_path / "layer"
    src.write_bytes(make_tar(*entries))
    target = tmp_path / "snap" / "fs"
    target.mkdir(parents=True)
    with pytest.raises(InvalidArgument, match=message):
        apply(src, target)
    assert os.listdir(target) == []
    assert os.listdir(tmp_path / "snap") == ["fs"]
    assert os.listdir(outside) == []
    assert not (tmp_path / "evil").exists()


def test_limits(tmp_path, apply):
    src = tmp_path / "layer"
    src.write_bytes(make_tar(("file", "a", "x" * 100), ("file", "b", "y")))
    with pytest.raises(InvalidArgument, match="exceeds"):
        apply(src, tmp_path / "o1", Limits(max_bytes=50))
    with pytest.raises(InvalidArgument, match="more than 1 entries"):
        apply(src, tmp_path / "o2", Limits(max_entries=1))
    with pytest.raises(InvalidArgument, match="longer than"):
        apply(src, tmp_path / "o3", Limits(max_path=0))
    assert sorted(os.listdir(tmp_path)) == ["layer"]


@pytest.mark.parametrize("body", [b"", b"not a tar at all" * 64, b"\x1f\x8bgarbage" * 10])
def test_not_a_tar(tmp_path, body, apply):
    src = tmp_path / "layer"
    src.write_bytes(body)
    with pytest.raises(InvalidArgument):
        apply(src, tmp_path / "out")
    assert sorted(os.listdir(tmp_path)) == ["layer"]


def test_diff_roundtrip_keeps_whiteouts_and_links(tmp_path, apply):
    upper = tmp_path / "upper"
    (upper / "d").mkdir(parents=True)
    (upper / "d" / "f").write_text("data")
    os.link(upper / "d" / "f", upper / "d" / "g")
    os.mknod(upper / "gone", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    (upper / "opq").mkdir()
    os.setxattr(upper / "opq", "trusted.overlay.opaque", b"y")
    (upper / "opq" / "x").write_text("x")
    os.symlink("d/f", upper / "s")
    data = layer_bytes(upper)
    assert layer_bytes(upper) == data  # deterministic
    src = tmp_path / "layer.tar"
    src.write_bytes(data)
    out = tmp_path / "out"
    stats = apply(src, out)
    assert stats.diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    assert (out / "d" / "g").read_text() == "data"
    assert os.stat(out / "d" / "g").st_ino == os.stat(out / "d" / "f").st_ino
    assert os.lstat(out / "gone").st_rdev == os.makedev(0, 0)
    assert os.getxattr(out / "opq", "trusted.overlay.opaque") == b"y"
    assert os.readlink(out / "s") == "d/f"


def test_truncated_layer_rejected_without_residue(tmp_path, apply):
    data = make_tar(("file", "a", "x" * 5000), ("file", "b", "y" * 5000))
    src = tmp_path / "layer"
    src.write_bytes(data[:2048])  # the first file's header says 5000 bytes follow
    with pytest.raises(InvalidArgument):
        apply(src, tmp_path / "out")
    assert sorted(os.listdir(tmp_path)) == ["layer"]
