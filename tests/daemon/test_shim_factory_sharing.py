"""Shims forked from the shim factory load no shared library the factory had not loaded: a
library a shim maps after the fork (e.g. OpenSSL's libcrypto behind a lazy ``import hashlib``)
is private to every container's shim (~1.2 MB each, bench/README.md). An exec leaves the
shim's private memory about as it was: the runtime's exec path runs in a child that exits
(berth.shim.execchild; in the shim itself the first exec kept ~1.1-1.4 MB more)."""

from __future__ import annotations

import time
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
    shim = int((daemon.exec_root / "containers" / cid / "shim.pid").read_text().split()[0])
    factory = int((daemon.exec_root / "shim-factory.pid").read_text())
    assert _libraries(shim)
    assert _libraries(shim) - _libraries(factory) == set()


def _rollup(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        fields[key] = int(value.split()[0])  # kB
    return fields


def test_an_exec_leaves_the_shims_private_memory_about_as_it_was(daemon: Daemon,
                                                                  names: list[str]) -> None:
    name = f"shimexecmem-{uuid.uuid4().hex[:8]}"
    names.append(name)
    cid = daemon.docker("run", "-d", "--name", name, "busybox", "sleep", "300",
                        check=True).stdout.decode().strip()
    shim = int((daemon.exec_root / "containers" / cid / "shim.pid").read_text().split()[0])
    time.sleep(0.5)  # the shim's own start-up (answering start, releasing its creator) is over
    before = _rollup(shim)
    daemon.docker("exec", name, "true", check=True)
    daemon.docker("exec", "-e", "A=1", "-w", "/tmp", "-u", "nobody", name, "true", check=True)
    after = _rollup(shim)
    # Private_Dirty, not Pss: a shim's Pss also moves when any other process sharing the
    # factory's pages comes or goes (one sibling shim exiting: +660 kB here), its private pages
    # only with what the shim itself writes. Measured: +~340 kB from a child, +1356 kB in the shim.
    grown = after["Private_Dirty"] - before["Private_Dirty"]
    assert grown < 768, (f"an exec grew the shim's Private_Dirty by {grown} kB "
                         f"(Pss {before['Pss']} -> {after['Pss']} kB)")
