"""Fixtures shared by the daemon-level tests (the `daemon` fixture itself is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Daemon


@pytest.fixture
def names(daemon: Daemon) -> Iterator[list[str]]:
    """Container names a test creates; each is force-removed afterwards, even on failure."""
    made: list[str] = []
    try:
        yield made
    finally:
        if made:
            daemon.docker("rm", "-f", *made)
