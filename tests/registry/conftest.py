"""Fixtures for registry tests: a private scratch dir and servers stopped even on failure."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.registry.helpers import Server


@pytest.fixture
def scratch() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="berth-reg-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Append every server a test starts; all are stopped afterwards."""
    started: list[Server] = []
    try:
        yield started
    finally:
        for s in started:
            s.stop()
