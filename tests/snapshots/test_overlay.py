from __future__ import annotations

import os
import sqlite3
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from berth.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from berth.mount import Mount, mount_all, unmount
from berth.snapshots.base import Kind
from berth.snapshots.overlay import OverlaySnapshotter
from berth.store.metadata import Database

pytestmark = pytest.mark.root


@pytest.fixture
def snap(tmp_path):
    db = Database(tmp_path / "berth.db")
    yield OverlaySnapshotter(tmp_path / "snapshots", db)
    db.close()


@contextmanager
def mounted(mounts: list[Mount]):
    target = tempfile.mkdtemp(prefix="berth-snap-mnt-")
    try:
        mount_all(mounts, target)
        try:
            yield Path(target)
        finally:
            unmount(target)
    finally:
        os.rmdir(target)


def layer(snap: OverlaySnapshotter, name: str, parent: str | None, files: dict[str, str]) -> None:
    snap.prepare(f"extract {name}", parent)
    upper = snap.upper_dir(f"extract {name}")
    for rel, text in files.items():
        (upper / rel).parent.mkdir(parents=True, exist_ok=True)
        (upper / rel).write_text(text)
    snap.commit(name, f"extract {name}")


def test_prepare_commit_view_remove(snap):
    layer(snap, "l1", None, {"a": "1", "d/x": "x"})
    info = snap.stat("l1")
    assert info.kind is Kind.COMMITTED and info.parent is None
    m = snap.prepare("c1", "l1")
    assert m[0].type == "overlay"
    opts = dict(o.split("=", 1) for o in m[0].options)
    assert opts["lowerdir"] == str(snap.upper_dir("l1"))
    assert opts["upperdir"] == str(snap.upper_dir("c1"))
    assert snap.mounts("c1") == m
    assert snap.view("v1", "l1") == [Mount("bind", str(snap.upper_dir("l1")), ("rbind", "ro"))]
    assert [i.key for i in snap.walk()] == ["l1", "c1", "v1"]
    with pytest.raises(Conflict, match="children"):
        snap.remove("l1")
    with pytest.raises(AlreadyExists):
        snap.prepare("c1", "l1")
    with pytest.raises(NotFound):
        snap.prepare("c2", "missing")
    with pytest.raises(InvalidArgument, match="not committed"):
        snap.prepare("c2", "c1")
    with pytest.raises(Conflict):
        snap.commit("x", "v1")
    c1_dir = snap.upper_dir("c1").parent
    snap.remove("c1")
    snap.remove("v1")
    assert not c1_dir.exists()
    snap.remove("l1")
    assert list(snap.walk()) == []
    assert sorted(p.name for p in snap.root.iterdir()) == []


def test_prepare_without_parent_is_a_bind(snap):
    m = snap.prepare("solo")
    assert m == [Mount("bind", str(snap.upper_dir("solo")), ("rbind", "rw"))]


def test_overlay_view_with_whiteouts_for_real(snap):
    layer(snap, "l1", None, {"a": "1", "keep": "k", "d/old": "o"})
    snap.prepare("extract l2", "l1")
    upper = snap.upper_dir("extract l2")
    os.mknod(upper / "a", 0o600 | 0o020000, os.makedev(0, 0))  # whiteout for "a"
    (upper / "d").mkdir()
    os.setxattr(upper / "d", "trusted.overlay.opaque", b"y")
    (upper / "d" / "new").write_text("n")
    snap.commit("l2", "extract l2")
    m = snap.prepare("ctr", "l2")
    with mounted(m) as root:
        assert sorted(os.listdir(root)) == ["d", "keep"]
        assert os.listdir(root / "d") == ["new"]
        (root / "written").write_text("w")
        os.unlink(root / "keep")
    upper = snap.upper_dir("ctr")
    assert (upper / "written").read_text() == "w"
    assert os.stat(upper / "keep", follow_symlinks=False).st_rdev == os.makedev(0, 0)
    view = snap.view("ro", "l2")
    with mounted(view) as root:
        assert sorted(os.listdir(root)) == ["d", "keep"]
        with pytest.raises(OSError):
            (root / "nope").write_text("x")
    u = snap.usage("ctr")
    assert u.size >= 1 and u.inodes >= 2


def test_crash_leftovers_are_collected_and_rows_never_dangle(snap, tmp_path):
    (snap.root / ".tmp-crashed").mkdir()
    (snap.root / "999").mkdir()
    snap.prepare("a")
    gone = {p.name for p in snap.collect_garbage()}
    assert gone == {".tmp-crashed", "999"}
    assert snap.upper_dir("a").is_dir()


def test_failed_row_insert_leaves_no_directory(snap, tmp_path):
    before = set(snap.root.iterdir())
    with snap._db.transaction() as tx:  # a trigger makes the next insert fail mid-transaction
        tx.execute("CREATE TRIGGER boom BEFORE INSERT ON snapshots "
                   "BEGIN SELECT RAISE(ABORT, 'boom'); END")
    with pytest.raises(sqlite3.IntegrityError):
        snap.prepare("x")
    assert set(snap.root.iterdir()) == before
    assert not snap.exists("x")


def test_too_deep_chain_is_rejected_clearly(tmp_path):
    db = Database(tmp_path / "berth.db")
    deep = tmp_path / ("d" * 200)
    s = OverlaySnapshotter(deep, db)
    try:
        parent = None
        with pytest.raises(InvalidArgument, match="too many layers"):
            for i in range(25):
                layer(s, f"l{i}", parent, {})
                parent = f"l{i}"
        assert 10 < i < 25
        assert not s.exists(f"extract l{i}")
        assert len(list(deep.iterdir())) == i
    finally:
        db.close()


def test_detach_forgets_now_and_leaves_the_files_to_the_caller(snap):
    snap.prepare("c")
    (snap.upper_dir("c") / "f").write_text("x")
    doomed = snap.detach("c")
    assert not snap.exists("c")
    assert doomed.parent == snap.root and doomed.name.startswith(".rm-")
    assert (doomed / "fs" / "f").read_text() == "x"
    with pytest.raises(NotFound):
        snap.detach("c")
    # Left behind by a daemon that died before deleting it: the next start's collection does.
    assert [p.name for p in snap.collect_garbage()] == [doomed.name]
    assert not doomed.exists()
