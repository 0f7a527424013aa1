"""Image rows and references (tags and digests) in the ``images`` and ``tags`` tables.

Owns the Image value and the SQL over those two tables. It must not touch blobs or
snapshots, and it does not decide what a reference string means: callers pass normalized
``berth.images.reference.Reference`` strings.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from berth.errors import InvalidArgument, NotFound
from berth.images.reference import Reference, parse
from berth.store.metadata import Database, Transaction

__all__ = ["Image", "ImageRecords", "chain_ids"]


def chain_ids(diff_ids: Sequence[str]) -> tuple[str, ...]:
    """OCI ChainIDs: ``C0 = D0``, ``Cn = sha256(Cn-1 + " " + Dn)``."""
    out: list[str] = []
    for d in diff_ids:
        if not out:
            out.append(d)
        else:
            out.append("sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return tuple(out)


@dataclass(frozen=True)
class Image:
    """One image: ``config`` is the parsed image config whose digest is ``id``."""

    id: str
    manifest_digest: str
    config: Mapping[str, Any]
    size: int
    created: int
    last_tag_time: int
    parent: str
    references: tuple[Reference, ...]

    @property
    def diff_ids(self) -> tuple[str, ...]:
        return tuple(self.config.get("rootfs", {}).get("diff_ids") or ())

    @property
    def chain_ids(self) -> tuple[str, ...]:
        return chain_ids(self.diff_ids)

    @property
    def top_chain_id(self) -> str | None:
        ids = self.chain_ids
        return ids[-1] if ids else None

    @property
    def tags(self) -> tuple[Reference, ...]:
        return tuple(r for r in self.references if r.digest is None)

    @property
    def digests(self) -> tuple[Reference, ...]:
        return tuple(r for r in self.references if r.digest is not None)


class ImageRecords:
    """Queries and changes over ``images`` and ``tags``; changes take the caller's transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def _image(self, row: sqlite3.Row, refs: list[str]) -> Image:
        return Image(
            id=row["id"], manifest_digest=row["manifest_digest"],
            config=json.loads(row["config"]), size=int(row["size"]),
            created=int(row["created"]), last_tag_time=int(row["last_tag_time"]),
            parent=row["parent"], references=tuple(parse(r) for r in sorted(refs)),
        )

    def get(self, image_id: str) -> Image:
        rows = self._db.query("SELECT * FROM images WHERE id = ?", (image_id,))
        if not rows:
            raise NotFound(f"No such image: {image_id}")
        refs = [r["name"] for r in self._db.query(
            "SELECT name FROM tags WHERE image_id = ?", (image_id,))]
        return self._image(rows[0], refs)

    def exists(self, image_id: str) -> bool:
        return bool(self._db.query("SELECT 1 FROM images WHERE id = ?", (image_id,)))

    def all(self) -> list[Image]:
        refs: dict[str, list[str]] = {}
        for r in self._db.query("SELECT name, image_id FROM tags"):
            refs.setdefault(r["image_id"], []).append(r["name"])
        return [self._image(row, refs.get(row["id"], []))
                for row in self._db.query("SELECT * FROM images ORDER BY created DESC, id")]

    def by_reference(self, ref: Reference) -> str | None:
        rows = self._db.query("SELECT image_id FROM tags WHERE name = ?", (str(ref),))
        return rows[0]["image_id"] if rows else None

    def by_prefix(self, hex_prefix: str) -> list[str]:
        """Image IDs starting with ``sha256:<hex_prefix>`` (at most two: enough to say ambiguous)."""
        if not all(c in "0123456789abcdef" for c in hex_prefix) or not hex_prefix:
            raise InvalidArgument(f"invalid image ID prefix {hex_prefix!r}")
        rows = self._db.query("SELECT id FROM images WHERE id LIKE ? LIMIT 2",
                              (f"sha256:{hex_prefix}%",))
        return [r["id"] for r in rows]

    def count_and_size(self) -> tuple[int, int]:
        row = self._db.query("SELECT count(*), coalesce(sum(size), 0) FROM images")[0]
        return int(row[0]), int(row[1])

    @staticmethod
    def insert(tx: Transaction, image_id: str, manifest_digest: str, raw_config: bytes,
               size: int, created: int, parent: str = "") -> None:
        """Insert the image row unless it exists (the same config means the same image)."""
        tx.execute(
            "INSERT INTO images(id, manifest_digest, config, size, created, parent) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
            (image_id, manifest_digest, raw_config.decode(), size, created, parent),
        )

    @staticmethod
    def set_reference(tx: Transaction, ref: Reference, image_id: str) -> None:
        """Point ``ref`` at ``image_id`` (moving it from another image) and stamp LastTagTime."""
        tx.execute(
            "INSERT INTO tags(name, image_id) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
            (str(ref), image_id),
        )
        tx.execute("UPDATE images SET last_tag_time = ? WHERE id = ?",
                   (time.time_ns(), image_id))

    @staticmethod
    def remove_reference(tx: Transaction, ref: Reference) -> None:
        tx.execute("DELETE FROM tags WHERE name = ?", (str(ref),))

    @staticmethod
    def delete(tx: Transaction, image_id: str) -> None:
        """Delete the row; its references go with it (ON DELETE CASCADE)."""
        tx.execute("DELETE FROM images WHERE id = ?", (image_id,))
