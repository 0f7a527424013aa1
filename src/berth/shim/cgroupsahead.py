"""The container's cgroup directories, made by the shim factory's intermediate child before the
shim creates the container.

That child primes the kernel's cgroup migration lock (berth.runtime.cgroups.prime) while the
shim starts: the first migration after a quiet spell waits for an RCU grace period (~10-15 ms
here), and it waits holding the cgroup mutex, which every mkdir in a cgroup filesystem takes
too. The runtime's create made the container's cgroups during that wait, so its first mkdir
sat out the rest of the grace period (2.5-15 ms in perf trace, bench/README.md). The child now
makes them first (~1 ms, while the shim sets up), then primes; the shim waits for the child's
answer on a pipe before creating (:func:`collect`) and the runtime's create finds the
directories empty and owns them from then on. If the create fails, or never gets that far,
the shim removes what the child made (:func:`release`).

Only for berth's own runtime: runc and crun make their cgroups themselves.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from berth.errors import BerthError
from berth.runtime.cgroups import detect
from berth.runtime.container import make_cgroups_ahead
from berth.shim.spec import ShimSpec

__all__ = ["collect", "make", "make_at", "release"]

_LIMIT = 1 << 16


def make(state_dir: Path, fd: int) -> None:
    """In the factory's intermediate child: make the cgroups, tell the shim which, close ``fd``."""
    made: tuple[str, ...] = ()
    try:
        spec = ShimSpec.load(state_dir)
        if spec.runtime in ("", "berth"):
            made = make_cgroups_ahead(spec.bundle, spec.id)
    except BerthError:
        pass  # the shim meets the same error and reports it
    _answer(fd, made)


def _answer(fd: int, made: tuple[str, ...]) -> None:
    try:
        os.write(fd, json.dumps(list(made)).encode())
    except OSError:
        release(made)  # the shim is gone: nobody will use or remove them
    finally:
        os.close(fd)


def make_at(cgroups_path: str, container_id: str, fd: int) -> None:
    """As :func:`make`, for a caller that was told the bundle's ``linux.cgroupsPath`` (berthd
    puts it in its request to the factory): the child then reads neither shim.json nor the
    ~14 KB config.json, whose parse and the copy-on-write faults it brings were most of this
    child's CPU (bench/README.md, "CPU per start"). The directories are the runtime's own
    choice for that path (``detect``, as in ``make_cgroups_ahead``)."""
    made: tuple[str, ...] = ()
    try:
        mgr = detect(cgroups_path, container_id)
        missing = tuple(p for p in mgr.paths.values() if not os.path.exists(p))
        mgr.create()
        made = missing
    except (BerthError, OSError, AttributeError):
        pass  # the runtime's create meets the same error and reports it
    _answer(fd, made)


def collect(fd: int) -> tuple[str, ...]:
    """In the shim: wait until the intermediate child is done; the directories it made.

    EOF without an answer (the child died) means nothing made that the shim must remove."""
    data = b""
    try:
        while len(data) < _LIMIT:
            try:
                chunk = os.read(fd, 4096)
            except InterruptedError:
                continue
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    try:
        made = json.loads(data) if data else []
    except ValueError:
        return ()
    return tuple(p for p in made if isinstance(p, str)) if isinstance(made, list) else ()


def release(dirs: Iterable[str]) -> None:
    """Remove directories made ahead whose container was not created (a busy one stays)."""
    for d in dirs:
        with contextlib.suppress(OSError):
            os.rmdir(d)
