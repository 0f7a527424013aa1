"""Shims forked from the shim factory load no shared library the factory had not loaded: a
library a shim maps after the fork (e.g. OpenSSL's libcrypto behind a lazy ``import hashlib``)
is private to every container's shim (~1.2 MB each, bench/README.md)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.root


def _libraries(pid: int) -> set[str]:
    libs = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and ".so" in parts[5]:
            libs.add(parts[5].strip())
    return libs


def test_shims_map_only_libraries_of_the_factory(daemon: Daemon, names: list[str]) -> None:
    name = f"shimlibs-{uuid.uuid4().hex[:8]}"
    names.append(name)
    # The default seccomp profile and a json-file log: the runtime's and the shim's full start path.
    cid = daemon.docker("run", "-d", "--name", name, "busybox", "sleep", "300",
                        check=True).stdout.decode().strip()
    # An exec runs the runtime's exec path in the shim too.
    daemon.docker("exec", name, "true", check=True)
    shim = int((daemon.exec_root / "containers" / cid / "shim.pid").read_text())
    factory = int((daemon.exec_root / "shim-factory.pid").read_text())
    assert _libraries(shim)
    assert _libraries(shim) - _libraries(factory) == set()
