"""Fixtures shared by the daemon-level tests (the `daemon` fixture itself is in tests/conftest.py)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.testing.cleanup import cleanup_daemon_leftovers
from berth.testing.netcleanup import cleanup_network_leftovers
from tests.conftest import Daemon, network_flags, remove_all_containers, stop_berthd


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
        if started:
            last = started[-1]
            if last.process is not None and last.process.poll() is None:
                remove_all_containers(last)
        for d in started:
            stop_berthd(d)
        if started:
            last = started[-1]
            cleanup_daemon_leftovers(last.data_root, last.exec_root, last.cgroup_parent)
            cleanup_network_leftovers(last.data_root, network_flags(base)[1])
        shutil.rmtree(base, ignore_errors=True)
