"""Side-by-side benchmark of berthd and dockerd, driven by the same real docker CLI (`make bench`).

Usage: .venv/bin/python -m bench.run [--repeat N] [--only NAME ...] [--quick] [--out DIR]

Engines alternate run by run (A B A B) so machine drift hits both alike. Prints medians,
min/max and the berth/Docker ratio per scenario, and writes report.json and report.md.
Without dockerd installed only berth's figures are printed. dockerd gets a private bridge
(no iptables), so "default network" is a real bridge + veth + netns for both engines.

Scenarios (issue 10): run --rm true (bridge and none), run --rm echo, the berth CLI's own
run, exec, stop -t 1, ps -a with 200 containers, 50 detached starts and the engine memory
per running container (PSS of daemon + shims/containerd, after minus before, / 50), a
10-step build cold and cached, import/save/load of a 200 MB image, pull/push of a 200 MB
image over a loopback registry. ``--quick`` skips the last two (about a minute each).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import build as build_bench
from bench import images as images_bench
from bench.engines import Engine, start_berthd, start_dockerd
from berth.testing.netcleanup import private_network_flags

Scenario = Callable[[Engine], float]
Results = dict[str, dict[str, list[float]]]


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
    subprocess.run([str(Path(sys.executable).parent / "berth"), "run", "--rm", "busybox", "true"],
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
    # Default (bridge) network: both engines reserve an address only at start, so 200
    # created containers fit on a bench daemon's /25 bridge.
    ids: list[str] = []
    try:
        for _ in range(200):
            ids.append(e.docker("create", "busybox", "true").stdout.decode().strip())
        return _timed(e, "ps", "-a")
    finally:
        if ids:
            e.docker("rm", *ids, check=False)


SCENARIOS: dict[str, Scenario] = {
    "run --rm --network none busybox true": run_true_none,
    "run --rm busybox true": run_true_default,
    "run --rm busybox echo": run_echo,
    "berth CLI: run --rm busybox true": berth_cli_run_true,
    "exec true": exec_latency,
    "stop -t 1": stop_t1,
    "ps -a (200 containers)": ps_a_200,
}
# Units other than seconds, for the report.
UNITS = {"memory per running container (KiB PSS)": "KiB"}


def detached_50(e: Engine, results: Results) -> None:
    before = e.pss_kib()
    ids: list[str] = []
    try:
        t0 = time.perf_counter()
        for _ in range(50):
            ids.append(e.docker("run", "-d", "busybox", "sleep", "3600").stdout.decode().strip())
        seconds = time.perf_counter() - t0
        time.sleep(1)  # let shims settle (lazy page faults, buffers) before measuring
        after = e.pss_kib()
    finally:
        if ids:
            e.docker("rm", "-f", *ids, check=False)
    results.setdefault("50 detached sleep starts (total)", {}).setdefault(e.name, []).append(seconds)
    results.setdefault("memory per running container (KiB PSS)", {}).setdefault(
        e.name, []).append((after - before) / 50)


def builds(e: Engine, ctx: Path, results: Results) -> None:
    cold = build_bench.build(e, ctx, "--no-cache")
    cached = build_bench.build(e, ctx)
    results.setdefault("build 10 steps, cold (--no-cache)", {}).setdefault(e.name, []).append(cold)
    results.setdefault("build 10 steps, cached", {}).setdefault(e.name, []).append(cached)


def image_archives(e: Engine, work: Path, results: Results) -> None:
    for key, seconds in images_bench.scenario(e, work).items():
        results.setdefault(key, {}).setdefault(e.name, []).append(seconds)


def registry_transfer(engines: list[Engine], base: Path, results: Results) -> None:
    # Imported here: it needs tests.registry.helpers (the repository root on sys.path).
    from tests.registry.helpers import start_berth_registry

    from bench.registry import make_layers, seed

    layers = make_layers(200, 4)
    src_dir, dst_dir = base / "registry-src", base / "registry-dst"
    src_dir.mkdir()
    dst_dir.mkdir()
    src, dst = start_berth_registry(src_dir), start_berth_registry(dst_dir)
    try:
        seed(src.url, "bench/big", layers)
        for e in engines:
            ref, target = f"{src.host}/bench/big:v1", f"{dst.host}/pushed/{e.name}:v1"
            e.docker("rmi", "-f", ref, check=False)
            results.setdefault("pull 200 MB / 4 layers (loopback)", {}).setdefault(e.name, []).append(
                _timed(e, "pull", ref))
            e.docker("tag", ref, target)
            results.setdefault("push 200 MB / 4 layers (loopback)", {}).setdefault(e.name, []).append(
                _timed(e, "push", target))
            e.docker("rmi", "-f", ref, target, check=False)
    finally:
        src.stop()
        dst.stop()


def _selected(name: str, only: list[str] | None) -> bool:
    return not only or any(o in name for o in only)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bench.run")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--only", nargs="*", default=None,
                   help="substrings of scenario names (detached, build, save, pull ...)")
    p.add_argument("--quick", action="store_true", help="skip the 200 MB image and registry scenarios")
    p.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ns = p.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    engines = [start_berthd(base)]
    results: Results = {}
    try:
        flags = private_network_flags(str(base / "docker"))
        docker = start_dockerd(base, ("bd" + flags[1][2:12], flags[3]))
        if docker is not None:
            engines.append(docker)
        for name, fn in SCENARIOS.items():
            if not _selected(name, ns.only):
                continue
            results[name] = {e.name: [] for e in engines}
            for _ in range(ns.repeat):
                for e in engines:  # A B A B
                    try:
                        results[name][e.name].append(fn(e))
                    except subprocess.CalledProcessError as err:
                        print(f"{e.name}: {name}: {err.stderr.decode().strip()}", file=sys.stderr)
                        results[name][e.name].append(float("nan"))
        if _selected("detached memory", ns.only):
            for e in engines:
                detached_50(e, results)
        if _selected("build", ns.only):
            ctx = build_bench.context(base / "build-ctx")
            for _ in range(max(1, ns.repeat // 2)):
                for e in engines:
                    builds(e, ctx, results)
        if not ns.quick and _selected("import save load commit", ns.only):
            work = base / "images-work"
            work.mkdir()
            # Alternated like the rows above: one sample per engine was at the mercy of
            # whatever else the machine did during that one run.
            for _ in range(max(1, ns.repeat // 2)):
                for e in engines:
                    image_archives(e, work, results)
        if not ns.quick and _selected("pull push registry", ns.only):
            registry_transfer(engines, base, results)
    finally:
        for e in engines:
            e.stop()
        shutil.rmtree(base, ignore_errors=True)
    _report(results, Path(ns.out), [e.name for e in engines])


def _fmt(values: list[float], unit: str) -> str:
    good = [v for v in values if v == v]
    if not good:
        return "n/a"
    if unit == "s":
        return f"{statistics.median(good):.3f}s ({min(good):.3f}-{max(good):.3f})"
    return f"{statistics.median(good):.0f} {unit} ({min(good):.0f}-{max(good):.0f})"


def _median(values: list[float]) -> float | None:
    good = [v for v in values if v == v]
    return statistics.median(good) if good else None


def _report(results: Results, out: Path, names: list[str]) -> None:
    both = "docker" in names
    lines = ["| scenario | " + " | ".join(names) + (" | berth/docker |" if both else " |"),
             "|---" * (len(names) + 1 + both) + "|"]
    summary: dict[str, dict[str, float | None]] = {}
    for scenario, per in results.items():
        unit = UNITS.get(scenario, "s")
        row = [scenario, *(_fmt(per.get(n, []), unit) for n in names)]
        b, d = _median(per.get("berth", [])), _median(per.get("docker", []))
        ratio = b / d if b is not None and d else None
        if both:
            row.append(f"{ratio:.2f}" if ratio is not None else "n/a")
        summary[scenario] = {"berth": b, "docker": d, "ratio": ratio}
        lines.append("| " + " | ".join(row) + " |")
    table = "\n".join(lines)
    print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(table + "\n")
    (out / "report.json").write_text(json.dumps(
        {"medians": summary, "samples": results, "units": UNITS}, indent=1))


if __name__ == "__main__":
    main()
