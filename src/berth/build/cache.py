"""The build cache: which image a build step produced from which inputs.

Owns the cache key and its persistence. A key is the SHA-256 of the parent image ID, the
step's canonical text (instruction after substitution, plus build args and settings that
change its result), and for COPY/ADD a checksum of the source content: paths, types,
permission bits, link targets and file bytes, never mtimes or owners, so touching a file
keeps the cache and editing it does not. Rows live in ``berth.db``::

    build_cache (key TEXT PK        sha256 hex of the inputs above
                 image_id TEXT      the step's resulting image
                 created INTEGER    ns since the epoch)

A hit is only used while its image still exists (the caller checks); ``prune`` forgets
every key. It must not create or delete images.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from berth.store.metadata import Database, Migration

__all__ = ["BuildCache", "CacheEntry", "cache_key", "content_checksum"]

_MIGRATIONS = (
    Migration(1, ("""CREATE TABLE build_cache (
        key TEXT PRIMARY KEY,
        image_id TEXT NOT NULL,
        created INTEGER NOT NULL)""",)),
)


def cache_key(parent: str, step: str, checksum: str = "") -> str:
    h = hashlib.sha256()
    for part in (parent, step, checksum):
        h.update(part.encode("utf-8", "surrogateescape"))
        h.update(b"\0")
    return h.hexdigest()


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def content_checksum(root: Path, sources: Iterable[Path]) -> str:
    """Checksum of the trees at ``sources`` (inside ``root``): content, not time or owner."""
    h = hashlib.sha256()

    def add(path: Path) -> None:
        st = os.lstat(path)
        rel = path.relative_to(root).as_posix()
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            h.update(f"L {rel} {os.readlink(path)}\0".encode("utf-8", "surrogateescape"))
        elif stat.S_ISDIR(st.st_mode):
            h.update(f"D {rel} {mode:o}\0".encode("utf-8", "surrogateescape"))
            for child in sorted(os.listdir(path)):
                add(path / child)
        elif stat.S_ISREG(st.st_mode):
            h.update(f"F {rel} {mode:o} {_file_digest(path)}\0".encode("utf-8", "surrogateescape"))

    for src in sources:
        add(src)
    return h.hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """One cached step: its key, the image it produced, when (ns since the epoch)."""

    key: str
    image_id: str
    created_ns: int


class BuildCache:
    """Cache keys over the ``build`` component's table in ``berth.db``."""

    def __init__(self, db: Database) -> None:
        self._db = db
        db.migrate("build", _MIGRATIONS)

    def lookup(self, key: str) -> str | None:
        rows = self._db.query("SELECT image_id FROM build_cache WHERE key = ?", (key,))
        return str(rows[0]["image_id"]) if rows else None

    def store(self, key: str, image_id: str) -> None:
        with self._db.transaction() as tx:
            tx.execute("INSERT INTO build_cache(key, image_id, created) VALUES (?, ?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET image_id = excluded.image_id, "
                       "created = excluded.created", (key, image_id, time.time_ns()))

    def entries(self) -> list[CacheEntry]:
        """Every cached step, oldest first (for ``system df``)."""
        rows = self._db.query("SELECT key, image_id, created FROM build_cache ORDER BY created")
        return [CacheEntry(str(r["key"]), str(r["image_id"]), int(r["created"])) for r in rows]

    def forget_image(self, image_id: str) -> None:
        with self._db.transaction() as tx:
            tx.execute("DELETE FROM build_cache WHERE image_id = ?", (image_id,))

    def prune(self) -> list[str]:
        """Forget every key; returns the keys that went."""
        with self._db.transaction() as tx:
            keys = [str(r["key"]) for r in tx.query("SELECT key FROM build_cache")]
            tx.execute("DELETE FROM build_cache")
        return keys
