from __future__ import annotations

import sqlite3
import threading

import pytest

from berth.errors import Internal
from berth.store.metadata import CORE_MIGRATIONS, Database, Migration


def test_core_schema_applied_and_versioned(tmp_path):
    with Database(tmp_path / "berth.db") as db:
        assert db.schema_version() == CORE_MIGRATIONS[-1].version
        tables = {r["name"] for r in db.query("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"images", "tags", "containers", "snapshots", "schema_version"} <= tables
        assert db.query("PRAGMA journal_mode")[0][0] == "wal"
        assert db.query("PRAGMA foreign_keys")[0][0] == 1


def test_component_migrations_run_once_in_order(tmp_path):
    steps = [
        Migration(1, ("CREATE TABLE nets (name TEXT PRIMARY KEY)",)),
        Migration(2, ("ALTER TABLE nets ADD COLUMN subnet TEXT",)),
    ]
    with Database(tmp_path / "b.db") as db:
        assert db.migrate("networks", steps[:1]) == 1
        assert db.migrate("networks", steps) == 2
        db.migrate("networks", steps)  # already there: no error, nothing re-run
        with db.transaction() as tx:
            tx.execute("INSERT INTO nets VALUES ('a', '10.0.0.0/8')")
    with Database(tmp_path / "b.db") as db:
        assert db.schema_version("networks") == 2
        with pytest.raises(Internal, match="newer"):
            db.migrate("networks", steps[:1])


def test_failed_migration_leaves_version_unchanged(tmp_path):
    with Database(tmp_path / "b.db") as db:
        bad = [Migration(1, ("CREATE TABLE x (a)", "THIS IS NOT SQL"))]
        with pytest.raises(sqlite3.Error):
            db.migrate("x", bad)
        assert db.schema_version("x") == 0
        assert not db.query("SELECT name FROM sqlite_master WHERE name = 'x'")


def test_transaction_rolls_back_on_error(tmp_path):
    with Database(tmp_path / "b.db") as db:
        with pytest.raises(RuntimeError), db.transaction() as tx:
            tx.execute("INSERT INTO containers VALUES ('a', 'n', 'img', 1, '{}')")
            with db.transaction() as inner:  # joins the outer one
                inner.execute("INSERT INTO containers VALUES ('b', 'm', 'img', 1, '{}')")
            raise RuntimeError("boom")
        assert db.query("SELECT count(*) FROM containers")[0][0] == 0


def test_reopen_sees_committed_data(tmp_path):
    db = Database(tmp_path / "b.db")
    with db.transaction() as tx:
        tx.execute("INSERT INTO containers VALUES ('a', 'n', 'img', 1, '{}')")
    db.close()
    with Database(tmp_path / "b.db") as again:
        assert [r["id"] for r in again.query("SELECT id FROM containers")] == ["a"]


def test_usable_from_several_threads(tmp_path):
    with Database(tmp_path / "b.db") as db:
        errors: list[BaseException] = []

        def work(n: int) -> None:
            try:
                for i in range(20):
                    with db.transaction() as tx:
                        tx.execute("INSERT INTO containers VALUES (?, ?, 'i', 1, '{}')",
                                   (f"{n}-{i}", f"name-{n}-{i}"))
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert db.query("SELECT count(*) FROM containers")[0][0] == 80
