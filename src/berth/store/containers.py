"""Container records in the ``containers`` table: identity, name, image and an opaque JSON body.

Owns name uniqueness and reference lookup (full ID, name, unique ID prefix) with Docker's
error wording. It must not interpret ``data``: the container service owns that JSON.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from berth.errors import Conflict, InvalidArgument, NotFound
from berth.store.metadata import Database

__all__ = ["ContainerRecord", "ContainerRecords"]


@dataclass(frozen=True)
class ContainerRecord:
    """One row; ``name`` has no leading slash; ``created`` is ns since the epoch."""

    id: str
    name: str
    image_id: str
    created: int
    data: dict[str, Any]


def _row(r: sqlite3.Row) -> ContainerRecord:
    return ContainerRecord(
        id=r["id"], name=r["name"], image_id=r["image_id"], created=int(r["created"]),
        data=json.loads(r["data"]),
    )


class ContainerRecords:
    """CRUD over the ``containers`` table of one :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def _name_conflict(self, name: str) -> Conflict:
        rows = self._db.query("SELECT id FROM containers WHERE name = ?", (name,))
        holder = rows[0]["id"] if rows else "?"
        return Conflict(
            f'Conflict. The container name "/{name}" is already in use by container '
            f'"{holder}". You have to remove (or rename) that container to be able to '
            "reuse that name."
        )

    def put(self, record: ContainerRecord) -> None:
        """Insert a new record; a taken name or ID raises Conflict (Docker answers 409 for both)."""
        name = record.name.removeprefix("/")
        try:
            with self._db.transaction() as tx:
                tx.execute(
                    "INSERT INTO containers(id, name, image_id, created, data) VALUES (?,?,?,?,?)",
                    (record.id, name, record.image_id, record.created, json.dumps(record.data)),
                )
        except sqlite3.IntegrityError as e:
            if "containers.name" in str(e):
                raise self._name_conflict(name) from e
            raise Conflict(f"container {record.id} already exists") from e

    def update(self, record: ContainerRecord, durable: bool = True) -> None:
        """Replace name, image and data of an existing record (rename goes through here too).

        ``durable=False`` for running-state churn only (see ``Database.transaction``).
        """
        name = record.name.removeprefix("/")
        try:
            with self._db.transaction(durable=durable) as tx:
                cur = tx.execute(
                    "UPDATE containers SET name = ?, image_id = ?, created = ?, data = ? "
                    "WHERE id = ?",
                    (name, record.image_id, record.created, json.dumps(record.data), record.id),
                )
                if cur.rowcount == 0:
                    raise NotFound(f"No such container: {record.id}")
        except sqlite3.IntegrityError as e:
            raise self._name_conflict(name) from e

    def get(self, id: str) -> ContainerRecord:
        rows = self._db.query("SELECT * FROM containers WHERE id = ?", (id,))
        if not rows:
            raise NotFound(f"No such container: {id}")
        return _row(rows[0])

    def find(self, ref: str) -> ContainerRecord:
        """Resolve a full ID, a name (with or without "/") or a unique ID prefix, as Docker does."""
        if not ref:
            raise NotFound("No such container: ")
        rows = self._db.query("SELECT * FROM containers WHERE id = ?", (ref,))
        if rows:
            return _row(rows[0])
        rows = self._db.query(
            "SELECT * FROM containers WHERE name = ?", (ref.removeprefix("/"),)
        )
        if rows:
            return _row(rows[0])
        if all(c in "0123456789abcdef" for c in ref):
            # Escape nothing: the prefix is pure hex, so LIKE wildcards cannot appear in it.
            rows = self._db.query(
                "SELECT * FROM containers WHERE id LIKE ? LIMIT 2", (ref + "%",)
            )
            if len(rows) > 1:
                raise InvalidArgument(f"Multiple IDs found with provided prefix: {ref}")
            if rows:
                return _row(rows[0])
        raise NotFound(f"No such container: {ref}")

    def list(self) -> list[ContainerRecord]:
        """All records, newest first (the order of ``docker ps``)."""
        return [_row(r) for r in self._db.query("SELECT * FROM containers ORDER BY created DESC")]

    def delete(self, id: str) -> None:
        with self._db.transaction() as tx:
            cur = tx.execute("DELETE FROM containers WHERE id = ?", (id,))
            if cur.rowcount == 0:
                raise NotFound(f"No such container: {id}")

    def names(self) -> set[str]:
        """Names in use, without the leading slash."""
        return {r["name"] for r in self._db.query("SELECT name FROM containers")}

    def images_in_use(self) -> dict[str, str]:
        """Image ID -> the ID of one container that uses it (the oldest, for stable messages)."""
        used: dict[str, str] = {}
        for r in self._db.query("SELECT id, image_id FROM containers ORDER BY created"):
            used.setdefault(r["image_id"], r["id"])
        return used
