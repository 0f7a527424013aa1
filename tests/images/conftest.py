"""Fixtures shared by the image-layer tests."""

from __future__ import annotations

import pytest

from berth.snapshots.overlay import OverlaySnapshotter
from berth.store.content import ContentStore
from berth.store.metadata import Database


@pytest.fixture
def stores(tmp_path):
    """A content store and an overlay snapshotter (with its SQLite file) under tmp_path."""
    db = Database(tmp_path / "berth.db")
    yield ContentStore(tmp_path / "content"), OverlaySnapshotter(tmp_path / "snapshots", db)
    db.close()
