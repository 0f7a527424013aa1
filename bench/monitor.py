"""What monitoring costs: berthd's stats collector with N running containers, next to Docker.

Usage: .venv/bin/python -m bench.monitor [--containers 100] [--seconds 30]

berth samples every running container once per second whether anyone asks or not; the
figure that matters is the CPU the collector itself spends (berthd counts it and exports it
as berth_collector_cpu_seconds_total on /metrics), as a share of one core, plus berthd's
whole-process CPU over the same window. Docker samples only while a client streams stats,
so its side is dockerd's (+ containerd's) CPU while `docker stats` streams all N containers,
and the time of one `docker stats --no-stream` over all of them, measured on both engines.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.engines import Engine, start_berthd, start_dockerd

_TICKS = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / _TICKS


def _daemon_pids(e: Engine) -> list[int]:
    """The daemon itself (and containerd for Docker), not shims or containers."""
    pids = [e.process.pid]
    if e.name == "docker":
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    cmd = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                if cmd.startswith(b"containerd\0") and str(e.root).encode() in cmd:
                    pids.append(int(entry.name))
    return pids


def _collector_cpu(url: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("berth_collector_cpu_seconds_total "):
                return float(line.split()[1])
    raise RuntimeError("no collector figure on /metrics")


def _start_containers(e: Engine, n: int) -> None:
    def one(i: int) -> None:
        e.docker("run", "-d", "--network", "none", "--name", f"mon{i}", "busybox", "sleep", "3600")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(n)))


def _no_stream_seconds(e: Engine) -> float:
    t0 = time.perf_counter()
    e.docker("stats", "--no-stream")
    return time.perf_counter() - t0


def measure(e: Engine, n: int, seconds: float, metrics_url: str | None) -> dict[str, float]:
    _start_containers(e, n)
    time.sleep(3)  # let start-up work settle
    pids = _daemon_pids(e)
    out: dict[str, float] = {"no_stream_s": _no_stream_seconds(e)}
    c0, t0 = _cpu_seconds(pids), time.monotonic()
    k0 = _collector_cpu(metrics_url) if metrics_url else 0.0
    if e.name == "docker":
        # Docker only samples while asked: stream stats of everything for the window.
        streamer = subprocess.Popen(["docker", "stats", "--format", "{{.ID}}"], env=e.env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(seconds)
        streamer.terminate()
        streamer.wait()
    else:
        time.sleep(seconds)
    wall = time.monotonic() - t0
    out["daemon_cpu_pct"] = (_cpu_seconds(pids) - c0) / wall * 100
    if metrics_url:
        out["collector_cpu_pct"] = (_collector_cpu(metrics_url) - k0) / wall * 100
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=30.0)
    ns = ap.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="berth-bench-mon-") as tmp:
        port = _free_port()
        berth = start_berthd(Path(tmp), metrics_addr=f"127.0.0.1:{port}")
        try:
            results["berth"] = measure(berth, ns.containers, ns.seconds, f"http://127.0.0.1:{port}")
        finally:
            berth.stop()
        docker = start_dockerd(Path(tmp))
        if docker is not None:
            try:
                results["docker"] = measure(docker, ns.containers, ns.seconds, None)
            finally:
                docker.stop()
    print(f"{ns.containers} running containers, {ns.seconds:.0f} s window")
    print(f"{'':34}{'berth':>12}{'docker':>12}")
    rows = [("collector CPU (% of one core)", "collector_cpu_pct"),
            ("daemon CPU while sampling (%)", "daemon_cpu_pct"),
            ("docker stats --no-stream (s)", "no_stream_s")]
    for label, key in rows:
        cells = [f"{results[k][key]:12.2f}" if k in results and key in results[k] else f"{'-':>12}"
                 for k in ("berth", "docker")]
        print(f"{label:34}{''.join(cells)}")


if __name__ == "__main__":
    main()
