"""Issue 3 benchmark: import, save and load of a ~200 MB 3-layer image, and commit of a container
with 50 MB of changes — berth and (when installed) Docker side by side, with the ratio.

Run on demand: ``.venv/bin/python -m bench.images``. Never part of the test suite.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

from bench.engines import Engine, start_berthd, start_dockerd


def _rootfs_tar(path: Path, mb: int) -> None:
    """busybox-less rootfs of incompressible files (``mb`` MB)."""
    with tarfile.open(path, "w") as tar:
        for i in range(mb):
            info = tarfile.TarInfo(f"data/f{i:04d}")
            info.size = 1 << 20
            tar.addfile(info, io.BytesIO(os.urandom(1 << 20)))


def _timed(fn: object) -> float:
    t = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t


def scenario(e: Engine, work: Path) -> dict[str, float]:
    tag = "bench3:latest"
    tars = []
    for n in range(3):
        p = work / f"layer{n}.tar"
        if not p.exists():
            _rootfs_tar(p, 67)
        tars.append(p)
    out: dict[str, float] = {}
    out["import 67 MB"] = _timed(lambda: e.docker("import", str(tars[0]), "bench3:base"))
    # Two more layers through commit of containers that copy files in (cp needs no shell).
    image = "bench3:base"
    for n in (1, 2):
        e.docker("create", "--name", f"b3-{n}", image, "true")
        e.docker("cp", "-", f"b3-{n}:/", input=tars[n].read_bytes())
        if n == 2:
            out["commit 67 MB of changes"] = _timed(lambda: e.docker("commit", "b3-2", tag))
        else:
            e.docker("commit", f"b3-{n}", f"bench3:{n}")
            image = f"bench3:{n}"
    archive = work / f"{e.name}-save.tar"
    out["save 200 MB / 3 layers"] = _timed(lambda: e.docker("save", "-o", str(archive), tag))
    for n in (1, 2):
        e.docker("rm", "-f", f"b3-{n}")
    e.docker("rmi", "-f", tag, "bench3:1", "bench3:base", check=False)
    out["load 200 MB / 3 layers"] = _timed(lambda: e.docker("load", "-i", str(archive)))
    e.docker("rmi", "-f", tag, check=False)
    archive.unlink()
    return out


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="berth-bench3-"))
    work = base / "work"
    work.mkdir()
    engines = [start_berthd(base)]
    docker = start_dockerd(base)
    if docker is not None:
        engines.append(docker)
    results: dict[str, dict[str, float]] = {}
    try:
        for e in engines:
            results[e.name] = scenario(e, work)
    finally:
        for e in engines:
            e.stop()
        shutil.rmtree(base, ignore_errors=True)
    names = list(results)
    print(f"{'scenario':28} " + " ".join(f"{n:>10}" for n in names)
          + ("      ratio" if len(names) > 1 else ""))
    for key in results[names[0]]:
        vals = [results[n][key] for n in names]
        ratio = f"   {vals[0] / vals[1]:6.2f}x" if len(vals) > 1 and vals[1] else ""
        print(f"{key:28} " + " ".join(f"{v:9.2f}s" for v in vals) + ratio)


if __name__ == "__main__":
    main()
