"""Issue 6 benchmark: a 10-step Dockerfile build, cold, fully cached, and one file changed.

Usage: .venv/bin/python -m bench.build [--repeat N]

berthd and (when installed) dockerd's classic builder are driven by the same real docker CLI
with ``DOCKER_BUILDKIT=0``. Each repetition: a cold build (``--no-cache``), a rebuild with
nothing changed (every step cached), and a rebuild after one COPY source file changed (the
steps from that COPY on run again). Prints medians side by side; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.engines import Engine, start_berthd, start_dockerd

DOCKERFILE = """\
FROM busybox
ENV APP=/app
WORKDIR /app
COPY base.txt ./
RUN cat base.txt > derived && mkdir -p /app/data
COPY conf/ ./conf/
RUN ls conf > conf.list
COPY changing.txt ./
RUN wc -c changing.txt > size
CMD ["cat", "/app/size"]
"""


def context(root: Path) -> Path:
    (root / "conf").mkdir(parents=True)
    (root / "Dockerfile").write_text(DOCKERFILE)
    (root / "base.txt").write_text("base\n" * 1000)
    for i in range(20):
        (root / "conf" / f"c{i}.conf").write_text(f"key{i}=value\n")
    (root / "changing.txt").write_text("v0\n")
    return root


def build(e: Engine, ctx: Path, *extra: str) -> float:
    env = dict(e.env, DOCKER_BUILDKIT="0")
    import subprocess

    t0 = time.perf_counter()
    subprocess.run(["docker", "build", "-q", "-t", "bench:build", *extra, str(ctx)], env=env,
                   check=True, capture_output=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bench.build")
    p.add_argument("--repeat", type=int, default=5)
    ns = p.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="berth-bench-build-"))
    ctx = context(base / "ctx")
    engines = [start_berthd(base)]
    docker = start_dockerd(base)
    if docker is not None:
        engines.append(docker)
    results: dict[str, dict[str, list[float]]] = {
        k: {e.name: [] for e in engines} for k in ("cold (--no-cache)", "fully cached", "one file changed")}
    try:
        for i in range(ns.repeat):
            for e in engines:  # A B A B
                results["cold (--no-cache)"][e.name].append(build(e, ctx, "--no-cache"))
                results["fully cached"][e.name].append(build(e, ctx))
                (ctx / "changing.txt").write_text(f"v{i + 1}-{e.name}\n")
                results["one file changed"][e.name].append(build(e, ctx))
    finally:
        for e in engines:
            e.stop()
    names = [e.name for e in engines]
    print("| 10-step build | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for scenario, per in results.items():
        cells = [f"{statistics.median(per[n]):.3f}s ({min(per[n]):.3f}-{max(per[n]):.3f})" for n in names]
        print(f"| {scenario} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
