"""Fixtures shared by the daemon-level tests (the `daemon` fixture itself is in tests/conftest.py)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, retire_berthd, stop_berthd


@pytest.fixture
def names(daemon: Daemon) -> Iterator[list[str]]:
    """Container names a test creates; each is force-removed afterwards, even on failure."""
    made: list[str] = []
    try:
        yield made
    finally:
        if made:
            daemon.docker("rm", "-f", *made)


@pytest.fixture
def cleanup_images(daemon: Daemon) -> Iterator[list[str]]:
    """Image references a test creates; each is force-removed afterwards, even on failure."""
    refs: list[str] = []
    try:
        yield refs
    finally:
        for ref in refs:
            daemon.docker("rmi", "-f", ref)


@pytest.fixture
def made(daemon: Daemon) -> Iterator[dict[str, list[str]]]:
    """Containers, images, networks and volumes a test creates, by kind; each is force-removed
    afterwards (in that order, so nothing is still in use), even on failure."""
    things: dict[str, list[str]] = {"containers": [], "images": [], "networks": [], "volumes": []}
    try:
        yield things
    finally:
        for c in things["containers"]:
            daemon.docker("rm", "-f", c)
        for i in things["images"]:
            daemon.docker("rmi", "-f", i)
        for n in things["networks"]:
            daemon.docker("network", "rm", n)
        for v in things["volumes"]:
            daemon.docker("volume", "rm", "-f", v)


@pytest.fixture
def own_daemon() -> Iterator[tuple[Path, list[Daemon]]]:
    """For tests that start (and restart, kill -9 ...) berthds of their own: a base directory
    for ``start_berthd(base)`` and a list the test appends each daemon it starts to.
    Afterwards the last daemon's containers are removed if it still runs, every daemon is
    stopped, and what the kernel still holds for that data root (mounts, cgroups,
    processes, network) is cleaned, even when the test failed."""
    base = Path(tempfile.mkdtemp(prefix="berth-own-"))
    started: list[Daemon] = []
    try:
        yield base, started
    finally:
        for d in started[:-1]:
            stop_berthd(d)
        if started:
            retire_berthd(started[-1], base)
        shutil.rmtree(base, ignore_errors=True)
