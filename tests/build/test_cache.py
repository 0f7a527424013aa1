"""Build cache keys: content, not mtime; persisted in berth.db across reopen; prune."""

from __future__ import annotations

import os

from berth.build.cache import BuildCache, cache_key, content_checksum
from berth.store.metadata import Database


def test_checksum_is_content_not_time(tmp_path):
    (tmp_path / "d").mkdir()
    f = tmp_path / "d" / "f"
    f.write_text("one")
    first = content_checksum(tmp_path, [tmp_path / "d"])
    os.utime(f, (1, 1))
    assert content_checksum(tmp_path, [tmp_path / "d"]) == first
    f.write_text("two")
    assert content_checksum(tmp_path, [tmp_path / "d"]) != first
    f.write_text("one")
    f.chmod(0o700)
    assert content_checksum(tmp_path, [tmp_path / "d"]) != first


def test_keys_depend_on_every_input():
    base = cache_key("sha256:a", "RUN x", "")
    assert base == cache_key("sha256:a", "RUN x", "")
    assert len({base, cache_key("sha256:b", "RUN x"), cache_key("sha256:a", "RUN y"),
                cache_key("sha256:a", "RUN x", "sum")}) == 4


def test_persisted_and_pruned(tmp_path):
    with Database(tmp_path / "berth.db") as db:
        cache = BuildCache(db)
        cache.store("k1", "sha256:1")
        cache.store("k2", "sha256:2")
    with Database(tmp_path / "berth.db") as db:
        cache = BuildCache(db)
        assert cache.lookup("k1") == "sha256:1"
        cache.forget_image("sha256:1")
        assert cache.lookup("k1") is None
        assert cache.prune() == ["k2"]
        assert cache.lookup("k2") is None
