from __future__ import annotations

import hashlib
import io

import pytest

from berth.errors import InvalidArgument, NotFound
from berth.store.content import ContentStore


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_ingest_read_delete(tmp_path):
    cs = ContentStore(tmp_path)
    data = b"hello" * 100000
    d = cs.ingest(io.BytesIO(data), expected=digest(data))
    assert d == digest(data)
    assert cs.exists(d) and cs.size(d) == len(data)
    assert cs.read(d) == data
    assert cs.path(d) == tmp_path / "blobs" / "sha256" / d.removeprefix("sha256:")
    assert cs.list() == {d}
    assert cs.put(data) == d  # same content again is fine
    cs.delete(d)
    assert not cs.exists(d)
    with pytest.raises(NotFound):
        cs.read(d)
    assert list((tmp_path / "ingest").iterdir()) == []


def test_digest_mismatch_leaves_nothing(tmp_path):
    cs = ContentStore(tmp_path)
    with pytest.raises(InvalidArgument, match="digest mismatch"):
        cs.ingest(io.BytesIO(b"abc"), expected=digest(b"abd"))
    assert list((tmp_path / "blobs" / "sha256").iterdir()) == []
    assert list((tmp_path / "ingest").iterdir()) == []


def test_failing_stream_leaves_nothing(tmp_path):
    cs = ContentStore(tmp_path)

    class Broken(io.RawIOBase):
        def __init__(self):
            self.n = 0

        def read(self, size=-1):
            self.n += 1
            if self.n > 3:
                raise OSError(5, "Input/output error")
            return b"x" * 1000

    with pytest.raises(OSError):
        cs.ingest(Broken())  # type: ignore[arg-type]
    assert list((tmp_path / "blobs" / "sha256").iterdir()) == []
    assert list((tmp_path / "ingest").iterdir()) == []


@pytest.mark.parametrize("bad", ["sha256:../../etc/passwd", "md5:abc", "sha256:" + "A" * 64, ""])
def test_invalid_digests_rejected(tmp_path, bad):
    cs = ContentStore(tmp_path)
    with pytest.raises(InvalidArgument):
        cs.path(bad)


def test_clean_ingest_removes_crash_leftovers(tmp_path):
    cs = ContentStore(tmp_path)
    (tmp_path / "ingest" / "ingest-left").write_bytes(b"half")
    cs.clean_ingest()
    assert list((tmp_path / "ingest").iterdir()) == []


def test_adopt_links_a_hashed_file_and_keeps_the_callers_name(tmp_path):
    cs = ContentStore(tmp_path / "content")
    data = b"layer" * 50000
    src = tmp_path / "staged"
    src.write_bytes(data)
    assert cs.adopt(src, digest(data)) is True
    assert cs.read(digest(data)) == data
    assert cs.path(digest(data)).stat().st_ino == src.stat().st_ino  # linked, not copied
    other = tmp_path / "again"
    other.write_bytes(data)
    assert cs.adopt(other, digest(data)) is False  # already stored: nothing changes
    assert cs.path(digest(data)).stat().st_ino == src.stat().st_ino
    src.unlink()
    other.unlink()
    assert cs.read(digest(data)) == data
    with pytest.raises(InvalidArgument):
        cs.adopt(tmp_path / "x", "sha256:../../etc")
