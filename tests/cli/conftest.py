"""CLI integration fixtures: unique container names removed after each test, pass or fail."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest


class Names:
    """Hands out unique container names and force-removes them (and extra IDs) at teardown."""

    def __init__(self, daemon) -> None:
        self.daemon = daemon
        self.created: list[str] = []

    def new(self, prefix: str = "t") -> str:
        name = f"berth-{prefix}-{uuid.uuid4().hex[:8]}"
        self.created.append(name)
        return name

    def track(self, ref: str) -> str:
        self.created.append(ref)
        return ref


@pytest.fixture
def names(daemon) -> Iterator[Names]:
    n = Names(daemon)
    try:
        yield n
    finally:
        if n.created:
            daemon.berth("rm", "-f", *n.created, timeout=60)
