"""Issue 4 benchmark: 50 detached containers, exec latency, stop time and memory per running
container (engine + shims), berth next to Docker when a dockerd is installed.

Usage: .venv/bin/python -m bench.containers [--containers 50] [--execs 20]

Memory is PSS (proportional set size, so pages shared between shims count once) of the
daemon and every helper process of the engine (berthd + shim factory + shims; dockerd +
containerd + containerd-shims), measured with the containers running minus the idle
engine, divided by the number of containers. The containers themselves (busybox sleep)
are not counted. ``kib_per_container_exec`` is the same once every container has had an exec
(as a health check gives it), measured after the exec latencies.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.engines import Engine, start_berthd, start_dockerd


def _measure(e: Engine, n: int, execs: int) -> dict[str, float]:
    e.docker("rm", "-f", *[f"b4-{i}" for i in range(n)], check=False)
    idle = e.pss_kib()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: e.docker("run", "-d", "--network", "none", "--name", f"b4-{i}",
                                         "busybox", "sleep", "100000"), range(n)))
    start_all = time.perf_counter() - t0
    time.sleep(2.0)  # let shims settle before measuring memory
    busy = e.pss_kib()
    lat = []
    for i in range(execs):
        t = time.perf_counter()
        e.docker("exec", f"b4-{i % n}", "true")
        lat.append(time.perf_counter() - t)
    for i in range(execs, n):
        e.docker("exec", f"b4-{i}", "true")
    time.sleep(2.0)
    exec_all = e.pss_kib()
    t = time.perf_counter()
    e.docker("stop", "-t", "1", *[f"b4-{i}" for i in range(n)])
    stop_all = time.perf_counter() - t
    e.docker("rm", "-f", *[f"b4-{i}" for i in range(n)], check=False)
    return {"start_all_s": start_all, "exec_median_ms": statistics.median(lat) * 1000,
            "exec_max_ms": max(lat) * 1000, "stop_all_s": stop_all,
            "kib_per_container": (busy - idle) / n,
            "kib_per_container_exec": (exec_all - idle) / n, "engine_idle_kib": idle}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--containers", type=int, default=50)
    ap.add_argument("--execs", type=int, default=20)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="berth-bench4-"))
    engines: list[Engine] = []
    try:
        engines.append(start_berthd(base / "berth"))
        docker = start_dockerd(base / "docker")
        if docker is not None:
            engines.append(docker)
        results = {e.name: _measure(e, args.containers, args.execs) for e in engines}
    finally:
        for e in engines:
            e.stop()
        shutil.rmtree(base, ignore_errors=True)
    keys = ["start_all_s", "exec_median_ms", "exec_max_ms", "stop_all_s", "kib_per_container",
            "kib_per_container_exec", "engine_idle_kib"]
    names = list(results)
    print(f"{args.containers} containers, {args.execs} execs")
    print(f"{'':22}" + "".join(f"{n:>14}" for n in names))
    for k in keys:
        print(f"{k:22}" + "".join(f"{results[n][k]:>14.1f}" for n in names))
    if "docker" not in results:
        print("(no dockerd installed: berth's figures only)")


if __name__ == "__main__":
    main()
