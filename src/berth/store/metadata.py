"""The SQLite metadata database (``<data-root>/berth.db``).

Owns the connection, the schema and its migrations, and transactions. It must not know what
the rows mean: record classes (``berth.store.containers``, ``berth.images.records``,
``berth.snapshots.overlay``) own their tables' semantics.

Schema (component ``core``, version 1)::

    schema_version (component TEXT PK, version INTEGER)
    images      (id TEXT PK                 "sha256:<config digest>"
                 manifest_digest TEXT       "sha256:<hex>" of the manifest blob
                 config TEXT                image config JSON, byte-exact (its digest is the id)
                 size INTEGER               sum of unpacked layer sizes
                 created INTEGER            ns since the epoch (config "created")
                 last_tag_time INTEGER      ns; 0 = never tagged
                 parent TEXT                image id or "")
    tags        (name TEXT PK               normalized: "docker.io/library/busybox:latest"
                                            or "docker.io/library/busybox@sha256:<hex>"
                 image_id TEXT -> images(id) ON DELETE CASCADE)
    containers  (id TEXT PK, name TEXT UNIQUE (no leading "/"), image_id TEXT,
                 created INTEGER ns, data TEXT  JSON owned by the container service)
    snapshots   (id INTEGER PK AUTOINCREMENT  directory number: snapshots/<id>/{fs,work}
                 key TEXT UNIQUE            active key, or committed name (a chain ID for layers)
                 parent TEXT -> snapshots(key)  committed parent name or NULL
                 kind TEXT                  "active" | "view" | "committed"
                 created INTEGER ns, labels TEXT JSON)

Other components add their own tables with :meth:`Database.migrate` under their own
component name, so each has an independent version number.

Durability: every commit is durable across power loss by default (``PRAGMA synchronous=FULL``:
SQLite fsyncs the WAL before ``COMMIT`` returns). ``transaction(durable=False)`` commits with
``synchronous=NORMAL`` (no sync: the commit survives a berthd crash, and reaches the disk with
the next durable commit or checkpoint, since the WAL is written in order); callers use it only
for state that berthd reconciles with reality at start (a container's running/exited state,
health, network sandboxes), where losing the last commits to a power cut is harmless.

Threading: one connection opened with ``check_same_thread=False``, guarded by one
re-entrant lock. Every statement and every transaction holds the lock, so the event-loop
thread and ``asyncio.to_thread`` workers can share the object; SQLite serialises writers
anyway, and a single berthd is the only writer.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.errors import Internal

__all__ = ["CORE_MIGRATIONS", "Database", "Migration", "Transaction"]


@dataclass(frozen=True)
class Migration:
    """One schema step; ``version`` is the version reached after ``statements`` ran."""

    version: int
    statements: tuple[str, ...]


CORE_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        (
            """CREATE TABLE images (
                id TEXT PRIMARY KEY,
                manifest_digest TEXT NOT NULL,
                config TEXT NOT NULL,
                size INTEGER NOT NULL,
                created INTEGER NOT NULL,
                last_tag_time INTEGER NOT NULL DEFAULT 0,
                parent TEXT NOT NULL DEFAULT '')""",
            """CREATE TABLE tags (
                name TEXT PRIMARY KEY,
                image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE)""",
            "CREATE INDEX tags_image ON tags(image_id)",
            """CREATE TABLE containers (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                image_id TEXT NOT NULL,
                created INTEGER NOT NULL,
                data TEXT NOT NULL)""",
            """CREATE TABLE snapshots (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                key TEXT NOT NULL UNIQUE,
                parent TEXT REFERENCES snapshots(key),
                kind TEXT NOT NULL,
                created INTEGER NOT NULL,
                labels TEXT NOT NULL DEFAULT '{}')""",
            "CREATE INDEX snapshots_parent ON snapshots(parent)",
        ),
    ),
)


class Transaction:
    """Statements run inside one ``BEGIN IMMEDIATE`` ... ``COMMIT``; only valid inside the block."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, params).fetchall()


class Database:
    """One SQLite file in WAL mode with foreign keys on; core migrations run at open."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so sqlite3 never opens
            # implicit transactions behind our back.
            self._conn = sqlite3.connect(
                str(path), check_same_thread=False, isolation_level=None, timeout=30
            )
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as e:
            raise Internal(f"open metadata database {path}: {e}") from e
        self._lock = threading.RLock()
        self._depth = 0
        self._full_sync = True  # the connection's current PRAGMA synchronous is FULL
        self._outer_durable = True  # whether the open outermost transaction syncs at commit
        self._closed = False
        with self.transaction() as tx:
            tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                "component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
        self.migrate("core", CORE_MIGRATIONS)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema_version(self, component: str = "core") -> int:
        rows = self.query("SELECT version FROM schema_version WHERE component = ?", (component,))
        return int(rows[0]["version"]) if rows else 0

    def migrate(self, component: str, migrations: Sequence[Migration]) -> int:
        """Apply, in order and each in its own transaction, migrations above the stored version."""
        versions = [m.version for m in migrations]
        if versions != sorted(set(versions)):
            raise Internal(f"migrations of {component} are not strictly increasing: {versions}")
        current = self.schema_version(component)
        if versions and current > versions[-1]:
            raise Internal(
                f"{self.path}: schema of {component} is version {current}, newer than this "
                f"berth knows ({versions[-1]})"
            )
        for m in migrations:
            if m.version <= current:
                continue
            with self.transaction() as tx:
                for stmt in m.statements:
                    tx.execute(stmt)
                tx.execute(
                    "INSERT INTO schema_version(component, version) VALUES (?, ?) "
                    "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                    (component, m.version),
                )
            current = m.version
        return current

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[Transaction]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` if the block raises.

        ``durable``: ``COMMIT`` returns once the WAL is on disk (survives power loss);
        False only for state berthd reconciles at start (see the module docstring).
        Nested use on the same thread joins the outer transaction, so helpers can open one
        without knowing whether their caller already did; a durable block cannot join a
        non-durable one (SQLite fixes the sync level at ``BEGIN``), which raises Internal.
        """
        with self._lock:
            if self._depth > 0:
                if durable and not self._outer_durable:
                    raise Internal(f"{self.path}: a durable transaction inside a non-durable one")
                self._depth += 1
                try:
                    yield Transaction(self._conn)
                finally:
                    self._depth -= 1
                return
            try:
                if durable != self._full_sync:
                    # Only outside a transaction: SQLite refuses to change it inside one.
                    self._conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                    self._full_sync = durable
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise Internal(f"begin transaction on {self.path}: {e}") from e
            self._depth = 1
            self._outer_durable = durable
            try:
                yield Transaction(self._conn)
            except BaseException:
                self._depth = 0
                self._conn.execute("ROLLBACK")
                raise
            self._depth = 0
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as e:
                self._conn.execute("ROLLBACK")
                raise Internal(f"commit on {self.path}: {e}") from e

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """A read outside any explicit transaction (SQLite gives it a consistent snapshot)."""
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as e:
                raise Internal(f"query on {self.path}: {e}") from e
