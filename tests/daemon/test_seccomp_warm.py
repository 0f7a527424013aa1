"""berthd has the shim factory compile the default seccomp profile when it starts: the first
container after a boot (an empty runtime state root) reads the program from the cache instead of
spending ~50 ms in libseccomp on its start path."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from berth.runtime import bpfcache
from berth.runtime.seccomp import cache_dir, cache_keys
from tests.conftest import Daemon, start_berthd, stop_berthd

pytestmark = pytest.mark.root


def _key_of_default_container(daemon: Daemon, names: list[str]) -> str:
    name = f"seccompwarm-{uuid.uuid4().hex[:8]}"
    names.append(name)
    daemon.docker("run", "--name", name, "busybox", "true", check=True)
    cid = daemon.docker("inspect", "-f", "{{.Id}}", name, check=True).stdout.decode().strip()
    config = json.loads((daemon.data_root / "containers" / cid / "config.json").read_text())
    return bpfcache.key_for(config["linux"]["seccomp"], os.uname().machine, cache_keys().library)


def test_default_profile_is_compiled_at_daemon_start(daemon: Daemon, names: list[str]) -> None:
    key = _key_of_default_container(daemon, names)
    base = Path(tempfile.mkdtemp(prefix="berth-seccompwarm-"))
    try:
        fresh = start_berthd(base, "warm")
        try:
            # No container has run on this daemon: only the warm-up can have compiled it.
            cache = Path(cache_dir(fresh.exec_root / "runtime"))
            deadline = time.monotonic() + 20
            while bpfcache.load(cache, key) is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert bpfcache.load(cache, key) is not None
            assert [p.name for p in cache.iterdir()] == [f"{key}.bpf"]
        finally:
            stop_berthd(fresh)
            from berth.testing.cleanup import cleanup_daemon_leftovers

            leftovers = cleanup_daemon_leftovers(fresh.data_root, fresh.exec_root, fresh.cgroup_parent)
        assert not leftovers
    finally:
        shutil.rmtree(base, ignore_errors=True)
