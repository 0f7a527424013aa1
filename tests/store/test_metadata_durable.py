"""Which commits of the metadata database reach the disk before they return: observed with
strace on a real process (an fdatasync of the WAL file), not inferred from PRAGMA values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from berth.errors import Internal
from berth.store.metadata import Database

_SCRIPT = """
import sys
from pathlib import Path
from berth.store.metadata import Database
db = Database(Path(sys.argv[1]))
for i, durable in enumerate(sys.argv[2:]):
    sys.stdout.write(f"mark{i}\\n"); sys.stdout.flush()
    with db.transaction(durable=durable == "1") as tx:
        tx.execute("INSERT INTO schema_version VALUES (?, 1)", (f"c{i}",))
sys.stdout.write("end\\n"); sys.stdout.flush()
"""


def _syncs_per_commit(tmp_path: Path, durable: list[bool]) -> list[int]:
    """For each commit in order, how many fdatasync/fsync calls hit the WAL file during it."""
    trace = tmp_path / "trace"
    subprocess.run(["strace", "-f", "-y", "-qq", "-e", "trace=fsync,fdatasync,write", "-o", str(trace),
                    sys.executable, "-c", _SCRIPT, str(tmp_path / "b.db"),
                    *("1" if d else "0" for d in durable)], check=True, capture_output=True)
    counts: list[int] = []
    for line in trace.read_text().splitlines():
        if "write(1" in line and '"mark' in line:
            counts.append(0)
        elif "write(1" in line and '"end' in line:
            break
        elif counts and "sync(" in line and "b.db-wal>" in line:
            counts[-1] += 1
    return counts


def test_durable_commits_sync_the_wal_and_others_do_not(tmp_path):
    assert _syncs_per_commit(tmp_path, [True, False, False, True, False]) == [1, 0, 0, 1, 0]


def test_default_is_durable(tmp_path):
    with Database(tmp_path / "b.db") as db:
        assert db.query("PRAGMA synchronous")[0][0] == 2  # FULL
        with db.transaction(durable=False):
            pass
        assert db.query("PRAGMA synchronous")[0][0] == 1  # NORMAL, until the next durable one
        with db.transaction():
            pass
        assert db.query("PRAGMA synchronous")[0][0] == 2


def test_durable_cannot_join_a_non_durable_transaction(tmp_path):
    with Database(tmp_path / "b.db") as db:
        with pytest.raises(Internal, match="durable transaction inside a non-durable"), \
                db.transaction(durable=False) as tx:
            tx.execute("INSERT INTO schema_version VALUES ('x', 1)")
            with db.transaction():
                pass
        assert not db.query("SELECT 1 FROM schema_version WHERE component = 'x'")  # rolled back
        with db.transaction() as outer:  # the other way round joins: the whole block is durable
            with db.transaction(durable=False) as inner:
                inner.execute("INSERT INTO schema_version VALUES ('y', 1)")
            outer.execute("INSERT INTO schema_version VALUES ('z', 1)")
        assert len(db.query("SELECT 1 FROM schema_version WHERE component IN ('y', 'z')")) == 2
