"""Side-by-side benchmark of berthd and dockerd, driven by the same real docker CLI.

Usage: .venv/bin/python -m bench.run [--repeat N] [--only NAME ...] [--out DIR]

Engines alternate run by run (A B A B) so machine drift hits both alike. Prints medians,
min/max and the berth/Docker ratio per scenario, and writes report.json and report.md.
Without dockerd installed only berth's figures are printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.engines import Engine, start_berthd, start_dockerd

Scenario = Callable[[Engine], float]


def _timed(engine: Engine, *args: str) -> float:
    t0 = time.perf_counter()
    engine.docker(*args)
    return time.perf_counter() - t0


def run_true_none(e: Engine) -> float:
    return _timed(e, "run", "--rm", "--network", "none", "busybox", "true")


def run_true_default(e: Engine) -> float:
    return _timed(e, "run", "--rm", "busybox", "true")


def run_echo(e: Engine) -> float:
    return _timed(e, "run", "--rm", "busybox", "echo", "hello")


def berth_cli_run_true(e: Engine) -> float:
    if e.name != "berth":
        return float("nan")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "berth.cli.main", "run", "--rm", "busybox", "true"],
                   env=e.env, check=True, capture_output=True)
    return time.perf_counter() - t0


def _with_running(e: Engine, fn: Callable[[str], float]) -> float:
    cid = e.docker("run", "-d", "busybox", "sleep", "3600").stdout.decode().strip()
    try:
        return fn(cid)
    finally:
        e.docker("rm", "-f", cid, check=False)


def exec_latency(e: Engine) -> float:
    return _with_running(e, lambda cid: _timed(e, "exec", cid, "true"))


def stop_t1(e: Engine) -> float:
    return _with_running(e, lambda cid: _timed(e, "stop", "-t", "1", cid))


def ps_a_200(e: Engine) -> float:
    ids = [e.docker("create", "busybox", "true").stdout.decode().strip() for _ in range(200)]
    try:
        return _timed(e, "ps", "-a")
    finally:
        e.docker("rm", *ids, check=False)


@dataclass
class Detached:
    seconds: float
    pss_kib_per_container: float


def detached_50(e: Engine) -> Detached:
    before = e.pss_kib()
    t0 = time.perf_counter()
    ids = [e.docker("run", "-d", "busybox", "sleep", "3600").stdout.decode().strip()
           for _ in range(50)]
    seconds = time.perf_counter() - t0
    time.sleep(1)
    after = e.pss_kib()
    e.docker("rm", "-f", *ids, check=False)
    return Detached(seconds, (after - before) / 50)


SCENARIOS: dict[str, Scenario] = {
    "run --rm --network none busybox true": run_true_none,
    "run --rm busybox true": run_true_default,
    "run --rm busybox echo": run_echo,
    "berth CLI: run --rm busybox true": berth_cli_run_true,
    "exec true": exec_latency,
    "stop -t 1": stop_t1,
    "ps -a (200 containers)": ps_a_200,
}


def _fmt(values: list[float]) -> str:
    good = [v for v in values if v == v]
    if not good:
        return "n/a"
    return f"{statistics.median(good):.3f}s ({min(good):.3f}-{max(good):.3f})"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bench.run")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--only", nargs="*", default=None)
    p.add_argument("--out", default=str(Path(__file__).parent / "results"))
    p.add_argument("--no-detached", action="store_true", help="skip the 50-container scenario")
    ns = p.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    engines = [start_berthd(base)]
    docker = start_dockerd(base)
    if docker is not None:
        engines.append(docker)
    results: dict[str, dict[str, list[float]]] = {}
    try:
        for name, fn in SCENARIOS.items():
            if ns.only and not any(o in name for o in ns.only):
                continue
            results[name] = {e.name: [] for e in engines}
            for _ in range(ns.repeat):
                for e in engines:  # A B A B
                    try:
                        results[name][e.name].append(fn(e))
                    except subprocess.CalledProcessError as err:
                        print(f"{e.name}: {name}: {err.stderr.decode().strip()}", file=sys.stderr)
                        results[name][e.name].append(float("nan"))
        detached: dict[str, Detached] = {}
        if not ns.no_detached and (not ns.only or any("detached" in o for o in ns.only)):
            for e in engines:
                detached[e.name] = detached_50(e)
    finally:
        for e in engines:
            e.stop()
    _report(results, detached, Path(ns.out), [e.name for e in engines])


def _report(results: dict[str, dict[str, list[float]]], detached: dict[str, Detached],
            out: Path, names: list[str]) -> None:
    lines = ["| scenario | " + " | ".join(names) + (" | berth/docker |" if "docker" in names else " |"),
             "|---" * (len(names) + 1 + ("docker" in names)) + "|"]
    for scenario, per in results.items():
        row = [scenario, *(_fmt(per[n]) for n in names)]
        if "docker" in names:
            b = [v for v in per["berth"] if v == v]
            d = [v for v in per["docker"] if v == v]
            row.append(f"{statistics.median(b) / statistics.median(d):.2f}" if b and d else "n/a")
        lines.append("| " + " | ".join(row) + " |")
    for n, det in detached.items():
        lines.append(f"| 50 detached starts ({n}) | {det.seconds:.2f}s total | "
                     f"{det.pss_kib_per_container:.0f} KiB PSS per container |")
    table = "\n".join(lines)
    print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(table + "\n")
    (out / "report.json").write_text(json.dumps({
        "scenarios": results,
        "detached_50": {n: vars(d) for n, d in detached.items()},
    }, indent=1))


if __name__ == "__main__":
    main()
