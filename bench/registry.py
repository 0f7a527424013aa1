"""Issue 7 benchmark: push and pull of a 200 MB multi-layer image over loopback.

Usage: .venv/bin/python -m bench.registry [--repeat N] [--size-mb 200] [--layers 4]

Clients: berthd and (when installed) dockerd, both driven by the real docker CLI.
Servers: ``berth registry serve`` and Distribution (``docker-registry``, when installed).
Each repetition starts fresh registries: the image is seeded into a source registry over
HTTP, every engine pulls it (after removing its previous copy) and pushes it to a fresh
repository on a second, empty registry. Prints medians side by side; asserts nothing.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import statistics
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests
from tests.registry.helpers import Server, start_berth_registry, start_distribution

from bench.engines import Engine, start_berthd, start_dockerd


def make_layers(size_mb: int, count: int) -> list[tuple[bytes, str]]:
    """(gzip blob, diff id) per layer; random data so compression cannot shrink it."""
    per = size_mb * 1_000_000 // count
    out = []
    for i in range(count):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            info = tarfile.TarInfo(f"data/layer{i}.bin")
            info.size = per
            tar.addfile(info, io.BytesIO(os.urandom(per)))
        tar_bytes = raw.getvalue()
        out.append((gzip.compress(tar_bytes, compresslevel=1, mtime=0),
                    "sha256:" + hashlib.sha256(tar_bytes).hexdigest()))
    return out


def seed(url: str, repo: str, layers: list[tuple[bytes, str]]) -> None:
    def d(b: bytes) -> str:
        return "sha256:" + hashlib.sha256(b).hexdigest()

    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [x for _, x in layers]}}).encode()
    for blob in [b for b, _ in layers] + [config]:
        r = requests.post(f"{url}/v2/{repo}/blobs/uploads/")
        r.raise_for_status()
        loc = r.headers["Location"]
        loc = loc if loc.startswith("http") else url + loc
        requests.put(loc, params={"digest": d(blob)}, data=blob).raise_for_status()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": d(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": d(b), "size": len(b)} for b, _ in layers]}).encode()
    requests.put(f"{url}/v2/{repo}/manifests/v1", data=manifest, headers={
        "Content-Type": "application/vnd.docker.distribution.manifest.v2+json"}).raise_for_status()


def _timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--layers", type=int, default=4)
    ns = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="berth-bench-registry-"))
    layers = make_layers(ns.size_mb, ns.layers)
    engines: list[Engine] = [start_berthd(base)]
    docker = start_dockerd(base)
    if docker is not None:
        engines.append(docker)
    kinds: list[tuple[str, Callable[[Path], Server]]] = [("berth-registry", start_berth_registry)]
    if shutil.which("docker-registry"):
        kinds.append(("distribution", start_distribution))
    results: dict[tuple[str, str, str], list[float]] = {}
    try:
        for rep in range(ns.repeat):
            for kind, start in kinds:
                d1, d2 = base / f"{kind}-{rep}-src", base / f"{kind}-{rep}-dst"
                d1.mkdir()
                d2.mkdir()
                src, dst = start(d1), start(d2)
                try:
                    seed(src.url, "bench/big", layers)
                    for eng in engines if rep % 2 == 0 else list(reversed(engines)):
                        ref = f"{src.host}/bench/big:v1"
                        eng.docker("rmi", "-f", ref, check=False)
                        results.setdefault((kind, "pull", eng.name), []).append(
                            _timed(lambda e=eng, r=ref: e.docker("pull", r)))
                        target = f"{dst.host}/pushed/{eng.name}:v1"
                        eng.docker("tag", ref, target)
                        results.setdefault((kind, "push", eng.name), []).append(
                            _timed(lambda e=eng, t=target: e.docker("push", t)))
                        eng.docker("rmi", "-f", ref, target, check=False)
                finally:
                    src.stop()
                    dst.stop()
    finally:
        for eng in engines:
            eng.stop()
        shutil.rmtree(base, ignore_errors=True)
    print(f"{ns.size_mb} MB in {ns.layers} layers, loopback, median of {ns.repeat} (seconds)")
    print(f"{'server':<16}{'op':<6}" + "".join(f"{e.name + ' client':>16}" for e in engines))
    for kind, _ in kinds:
        for op in ("pull", "push"):
            cells = [statistics.median(results[(kind, op, e.name)]) for e in engines]
            print(f"{kind:<16}{op:<6}" + "".join(f"{c:>16.2f}" for c in cells))


if __name__ == "__main__":
    main()
