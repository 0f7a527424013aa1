"""Volume records (component ``volume`` in berth.db) and their directories.

Schema (component ``volume``, version 1)::

    volumes (name TEXT PK, created TEXT RFC3339 (seconds), data TEXT JSON {Driver, Labels, Options})

Data lives in ``<data-root>/volumes/<name>/_data`` (Docker's layout). A volume created
without a name gets 64 hex characters and the label ``com.docker.volume.anonymous``.

An anonymous volume made by a container's create is *pending* (``data.Pending`` = the
container's ID) until the create's container record has committed: a create that dies in
between leaves a pending volume whose container has no record, which berthd's start deletes
(:meth:`VolumeStore.pending`), while a volume whose container was later removed without
``-v`` stays, as in Docker. ``rm -v`` marks the container's anonymous volumes pending again
before its record goes, so a crash before they are deleted leaves them to the next start.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from berth.errors import InvalidArgument, NotFound
from berth.store.metadata import Database, Migration
from berth.store.writeback import sync_directory

__all__ = ["ANONYMOUS_LABEL", "Volume", "VolumeStore"]

ANONYMOUS_LABEL = "com.docker.volume.anonymous"
_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
_MIGRATIONS = (Migration(1, (
    "CREATE TABLE volumes (name TEXT PRIMARY KEY, created TEXT NOT NULL, data TEXT NOT NULL)",)),)


@dataclass(frozen=True)
class Volume:
    name: str
    created: str
    mountpoint: Path
    driver: str = "local"
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def anonymous(self) -> bool:
        return ANONYMOUS_LABEL in self.labels


class VolumeStore:
    def __init__(self, db: Database, root: Path) -> None:
        self._db = db
        self._root = root
        db.migrate("volume", _MIGRATIONS)

    def _volume(self, name: str, created: str, data: str) -> Volume:
        d = json.loads(data)
        return Volume(name, created, self._root / name / "_data", d.get("Driver", "local"),
                      d.get("Labels") or {}, d.get("Options") or {})

    def list(self) -> list[Volume]:
        return [self._volume(r["name"], r["created"], r["data"])
                for r in self._db.query("SELECT * FROM volumes ORDER BY name")]

    def get(self, name: str) -> Volume:
        rows = self._db.query("SELECT * FROM volumes WHERE name = ?", (name,))
        if not rows:
            raise NotFound(f"get {name}: no such volume")
        return self._volume(rows[0]["name"], rows[0]["created"], rows[0]["data"])

    def create(self, name: str, labels: dict[str, str], options: dict[str, str],
               pending: str = "") -> Volume:
        """Create, or return the existing volume of that name (Docker's create is idempotent).
        ``pending``: the ID of the container whose create makes it (see the module doc)."""
        if not _NAME_RE.match(name):
            raise InvalidArgument(f"create {name}: \"{name}\" includes invalid characters for a local "
                                  "volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you "
                                  "intended to pass a host directory, use absolute path")
        try:
            return self.get(name)
        except NotFound:
            pass
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        data = self._root / name / "_data"
        new_root = not self._root.is_dir()
        data.mkdir(parents=True, exist_ok=True)
        # Durable before the row that names them, on any file system (not only through
        # ext4's journal order): a volume whose row survives a power cut has its _data.
        for d in (self._root / name, self._root, *((self._root.parent,) if new_root else ())):
            sync_directory(d)
        fields: dict[str, object] = {"Driver": "local", "Labels": labels, "Options": options}
        if pending:
            fields["Pending"] = pending
        with self._db.transaction() as tx:
            tx.execute("INSERT INTO volumes(name, created, data) VALUES (?,?,?)",
                       (name, created, json.dumps(fields)))
        return self.get(name)

    def pending(self) -> dict[str, str]:
        """name -> container ID, for every volume still pending (see the module doc)."""
        out = {}
        for r in self._db.query("SELECT name, data FROM volumes"):
            owner = json.loads(r["data"]).get("Pending")
            if owner:
                out[r["name"]] = str(owner)
        return out

    def mark_pending(self, names: Iterable[str], container_id: str) -> None:
        """Mark volumes pending for ``container_id`` again: a ``rm -v`` does this before the
        container's record goes, so a crash between that and the volumes' removal leaves
        volumes the next start deletes. Not synced: the record's durable deletion carries it."""
        with self._db.transaction(durable=False) as tx:
            for name in names:
                rows = tx.query("SELECT data FROM volumes WHERE name = ?", (name,))
                if rows:
                    fields = json.loads(rows[0]["data"])
                    fields["Pending"] = container_id
                    tx.execute("UPDATE volumes SET data = ? WHERE name = ?", (json.dumps(fields), name))

    def settle(self, names: Iterable[str]) -> None:
        """Clear the pending mark: the container record naming these volumes has committed.
        Not synced: if a power cut loses it, the next start finds the record and settles
        them again."""
        with self._db.transaction(durable=False) as tx:
            for name in names:
                rows = tx.query("SELECT data FROM volumes WHERE name = ?", (name,))
                if not rows:
                    continue
                fields = json.loads(rows[0]["data"])
                if fields.pop("Pending", None) is not None:
                    tx.execute("UPDATE volumes SET data = ? WHERE name = ?", (json.dumps(fields), name))

    def collect_garbage(self) -> tuple[str, ...]:
        """Delete ``<root>/<name>`` directories no row names (a create killed between its
        mkdir and its commit, a delete killed between its commit and its rmtree); returns
        the names. Only at berthd start, when no create is in flight."""
        if not self._root.is_dir():
            return ()
        names = {r["name"] for r in self._db.query("SELECT name FROM volumes")}
        doomed = tuple(e for e in self._root.iterdir()
                       if e.name not in names and e.is_dir() and not e.is_symlink())
        for entry in doomed:
            shutil.rmtree(entry, ignore_errors=True)
        return tuple(e.name for e in doomed)

    def delete(self, name: str) -> None:
        with self._db.transaction() as tx:
            tx.execute("DELETE FROM volumes WHERE name = ?", (name,))
        shutil.rmtree(self._root / name, ignore_errors=True)

    def size(self, v: Volume) -> int:
        total = 0
        for p in v.mountpoint.rglob("*"):
            try:
                if p.is_file() and not p.is_symlink():
                    total += p.stat().st_size
            except OSError:
                continue
        return total
