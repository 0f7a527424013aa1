"""Networking benchmark: container start time with bridge networking vs ``--network none``,
and TCP throughput from the host's loopback through a published port, berth side by side
with Docker when dockerd is installed.

Run as root: ``.venv/bin/python -m bench.network [--repeat N] [--mb MB]``. Each engine is a
private daemon with its own bridge and subnet; dockerd runs with ``--iptables=false`` (so
the host's firewall is left alone) and therefore serves published ports with its userland
proxy, which is what a loopback client of Docker goes through by default anyway.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.engines import Engine, _env, _wait_socket
from berth.network import links
from berth.testing.netcleanup import cleanup_network_leftovers, private_network_flags
from berth.testing.rootfs import busybox_rootfs_tar


def _start_berthd(base: Path) -> Engine:
    root = base / "berth"
    root.mkdir(parents=True)
    sock = root / "berth.sock"
    log = open(root / "berthd.log", "wb")  # noqa: SIM115 - lives as long as the daemon
    proc = subprocess.Popen(
        [sys.executable, "-m", "berth.daemon.main", "-H", f"unix://{sock}",
         "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
         "--pidfile", str(root / "berthd.pid"), "--cgroup-parent", f"berth-netbench-{os.getpid()}",
         "--metrics-addr", "", *private_network_flags(str(root))],
        stdout=log, stderr=subprocess.STDOUT)
    _wait_socket(sock, proc)
    engine = Engine("berth", root, sock, proc, _env(sock, root),
                    cgroup_parent=f"berth-netbench-{os.getpid()}")
    from berth.baseimages import ensure_base_images

    ensure_base_images(engine.env["BERTH_HOST"])
    return engine


def _start_dockerd(base: Path, bridge: str, cidr: str) -> Engine | None:
    if shutil.which("dockerd") is None:
        return None
    links.ensure_bridge(bridge, cidr)
    root = base / "docker"
    root.mkdir(parents=True)
    sock = root / "docker.sock"
    log = open(root / "dockerd.log", "wb")  # noqa: SIM115 - lives as long as the daemon
    proc = subprocess.Popen(
        ["dockerd", "-H", f"unix://{sock}", "--data-root", str(root / "data"),
         "--exec-root", str(root / "exec"), "--pidfile", str(root / "docker.pid"),
         "--bridge", bridge, "--iptables=false", "--ip6tables=false",
         "--cgroup-parent", f"docker-netbench-{os.getpid()}"],
        stdout=log, stderr=subprocess.STDOUT)
    _wait_socket(sock, proc)
    engine = Engine("docker", root, sock, proc, _env(sock, root),
                    cgroup_parent=f"docker-netbench-{os.getpid()}")
    engine.docker("import", "-c", 'CMD ["sh"]', "-", "busybox:latest", input=busybox_rootfs_tar())
    return engine


def _timed_run(e: Engine, *net: str) -> float:
    t = time.perf_counter()
    e.docker("run", "--rm", *net, "busybox", "true")
    return time.perf_counter() - t


def _throughput(e: Engine, mb: int) -> float:
    """MB/s from a host socket to a container's ``nc -l`` through -p 127.0.0.1::5001."""
    name = f"netbench-{os.getpid()}"
    e.docker("run", "-d", "--name", name, "-p", "127.0.0.1::5001", "busybox", "sh", "-c",
             "nc -l -p 5001 > /dev/null")
    try:
        port = int(e.docker("port", name, "5001").stdout.decode().split(":")[-1])
        chunk = b"\0" * (1 << 20)
        deadline = time.monotonic() + 10
        while True:
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with s:
            t = time.perf_counter()
            for _ in range(mb):
                s.sendall(chunk)
            s.shutdown(socket.SHUT_WR)
            s.recv(1)  # the container closes when nc has read everything
            return mb / (time.perf_counter() - t)
    finally:
        e.docker("rm", "-f", name, check=False)


def _fmt(values: list[float], unit: str) -> str:
    return f"{statistics.median(values):.3f}{unit} ({min(values):.3f}-{max(values):.3f})" if values else "n/a"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bench.network")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--mb", type=int, default=512, help="megabytes sent per throughput sample")
    ns = p.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="berth-netbench-"))
    docker_bridge = f"bd{os.getpid() % 10**8}"
    engines = [_start_berthd(base)]
    try:
        d = _start_dockerd(base, docker_bridge, "10.239.0.1/24")
        if d is not None:
            engines.append(d)
        rows: dict[str, dict[str, list[float]]] = {"run --rm (bridge)": {}, "run --rm (--network none)": {},
                                                   "TCP via published port": {}}
        for _ in range(ns.repeat):
            for e in engines:
                rows["run --rm (bridge)"].setdefault(e.name, []).append(_timed_run(e))
                rows["run --rm (--network none)"].setdefault(e.name, []).append(
                    _timed_run(e, "--network", "none"))
        for _ in range(max(1, ns.repeat // 2)):
            for e in engines:
                rows["TCP via published port"].setdefault(e.name, []).append(_throughput(e, ns.mb))
    finally:
        for e in engines:
            e.stop()
        cleanup_network_leftovers(base / "berth" / "data", private_network_flags(str(base / "berth"))[1])
        links.delete_link(docker_bridge)
        shutil.rmtree(base, ignore_errors=True)
    names = [e.name for e in engines]
    print("| scenario | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for scenario, per in rows.items():
        unit = " MB/s" if "TCP" in scenario else "s"
        print(f"| {scenario} | " + " | ".join(_fmt(per.get(n, []), unit) for n in names) + " |")


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()
