"""CPU per `docker run --rm --network none busybox true`, per engine process (issue 10).

Usage: .venv/bin/python -m bench.cpu [--repeat N] [--period-us US] [--src SRC ...]

Starts private engines (a berthd per ``--src`` tree, default the imported berth, and dockerd
when installed), then samples every CPU with ``perf record -a -e task-clock`` while the same
docker CLI command runs N times on each engine, alternated run by run. Each sample is
charged to the engine whose process tree it falls in (the engines' resident processes and
every task forked from them during the recording, from perf's fork events), and within an
engine to a role: for berth by distance from the shim factory (the factory's fork helper,
the shim, the creator, the container's init) and for Docker by command name (dockerd,
containerd, containerd-shim-runc-v2, runc, runc init). The docker CLI itself is the same for
both engines and is not counted. Prints milliseconds of CPU per run and role.

Samples are taken every ``--period-us`` of task-clock per CPU (default 250 us), so a role's
figure is a count of samples: a few tenths of a millisecond per run is the resolution.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.engines import Engine, start_berthd, start_berthd_tree, start_dockerd

_FORK = re.compile(r"PERF_RECORD_FORK\((\d+):(\d+)\):\((\d+):(\d+)\)")
_SAMPLE = re.compile(r"^\s*(.+?)\s+(\d+)/(\d+)\s+task-clock:\s*(?:\S+\s+(.*?)\s+\((.*)\))?")
_EXEC = re.compile(r"PERF_RECORD_COMM exec: .*:(\d+)/\d+")
_COMMAND = ("run", "--rm", "--network", "none", "busybox", "true")


def _resident_roles(e: Engine) -> dict[int, str]:
    roles: dict[int, str] = {}
    for pid in e.engine_pids():
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if pid == e.process.pid:
            roles[pid] = "berthd" if e.name.startswith("berth") else "dockerd"
        elif "containerd-shim" in cmd:
            roles[pid] = "containerd-shim (resident)"
        elif "containerd" in cmd:
            roles[pid] = "containerd"
        elif "factory" in cmd or e.name.startswith("berth"):
            roles[pid] = "shim factory"
        else:
            roles[pid] = cmd.split(" ")[0]
    return roles


def _berth_roles(parent: dict[int, int], factory: set[int], execd: set[int]) -> dict[int, str]:
    """Roles of the factory's descendants, named up from the container's process (the one that
    exec'd the command): its parent is the creator, then the shim, then (trees before
    2026-11-28 cpucost) the factory's fork helper."""
    names = ("container init", "creator", "shim", "shim fork helper")
    roles: dict[int, str] = {}
    for pid in execd:
        top = pid
        while top in parent and top not in factory:
            top = parent[top]
        if top not in factory:
            continue  # another engine's, or not forked from the factory
        p, i = pid, 0
        while p in parent and p not in factory and i < len(names):
            roles.setdefault(p, names[i])
            p, i = parent[p], i + 1
    return roles


def _docker_role(comm: str) -> str:
    if comm.startswith("runc:[2:INIT]"):
        return "runc init (set-up)"
    if comm.startswith("runc"):
        return "runc"
    if comm.startswith("containerd-shim"):
        return "containerd-shim"
    if comm == "true":
        return "container (exec'd)"
    if comm == "exe":  # /proc/self/exe of dockerd: the libnetwork-setkey prestart hook runc runs
        return "dockerd re-exec'd (setkey hook)"
    return comm


def charge(script: str, engines: dict[str, dict[int, str]],
           symbols: dict[str, Counter[str]] | None = None) -> dict[str, Counter[str]]:
    """Samples per engine and role from ``perf script --show-task-events`` output."""
    owner: dict[int, str] = {pid: name for name, roles in engines.items() for pid in roles}
    factory = {pid for roles in engines.values() for pid, r in roles.items() if r == "shim factory"}
    parent: dict[int, int] = {}
    execd: set[int] = set()
    samples: list[tuple[int, str, str | None]] = []
    for line in script.splitlines():
        m = _FORK.search(line)
        if m:
            child, ppid = int(m.group(1)), int(m.group(3))
            if child != ppid and ppid in owner and child not in engines[owner[ppid]]:
                owner[child] = owner[ppid]
                parent[child] = ppid
            continue
        if "PERF_RECORD_COMM exec:" in line:
            c = _EXEC.search(line)
            if c and int(c.group(1)) in owner:
                execd.add(int(c.group(1)))
            continue
        s = _SAMPLE.match(line)
        if s and int(s.group(2)) in owner:
            sym = f"{s.group(4)} ({s.group(5).rsplit('/', 1)[-1]})" if s.group(4) is not None else None
            samples.append((int(s.group(2)), s.group(1), sym))
    berth_roles = _berth_roles(parent, factory, execd)
    out: dict[str, Counter[str]] = {name: Counter() for name in engines}
    for pid, comm, sym in samples:
        name = owner[pid]
        if pid in engines[name]:
            role = engines[name][pid]
        elif pid in berth_roles:
            role = berth_roles[pid]
            if role == "container init":
                role = "container (exec'd)" if comm == "true" else "container init (set-up)"
        elif name.startswith("berth"):
            role = "other child of berthd or the factory"
        else:
            role = _docker_role(comm)
        out[name][role] += 1
        if symbols is not None and sym is not None:
            symbols.setdefault(f"{name}: {role}", Counter())[sym] += 1
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bench.cpu")
    p.add_argument("--repeat", type=int, default=30)
    p.add_argument("--period-us", type=int, default=250)
    p.add_argument("--src", type=Path, nargs="*", default=None, help="berth src trees (default: imported)")
    p.add_argument("--no-docker", action="store_true")
    p.add_argument("--symbols", type=int, default=0, help="print each role's N hottest functions")
    ns = p.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="berth-cpu-"))
    started: dict[str, Engine] = {}
    try:
        srcs: list[Path | None] = [s.resolve() for s in ns.src] if ns.src else [None]
        for i, src in enumerate(srcs):
            e = start_berthd(base / f"b{i}") if src is None else start_berthd_tree(base / f"b{i}", src)
            started[f"berth{i}" if len(srcs) > 1 else "berth"] = e
        if not ns.no_docker:
            d = start_dockerd(base)
            if d is not None:
                started["docker"] = d
        for e in started.values():  # warm: first start, image and program caches
            for _ in range(3):
                e.docker(*_COMMAND)
        roles = {name: _resident_roles(e) for name, e in started.items()}
        data = base / "perf.data"
        perf = subprocess.Popen(["perf", "record", "-a", "-q", "-e", "task-clock", "-c",
                                 str(ns.period_us * 1000), "-o", str(data)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # perf's synthesis of existing tasks
        walls: dict[str, list[float]] = {name: [] for name in started}
        for _ in range(ns.repeat):
            for name, e in started.items():
                t0 = time.perf_counter()
                e.docker(*_COMMAND)
                walls[name].append(time.perf_counter() - t0)
        time.sleep(0.5)
        perf.send_signal(signal.SIGINT)
        perf.wait()
        script = subprocess.run(["perf", "script", "-i", str(data), "--show-task-events",
                                 "-F", "comm,pid,tid,event" + (",ip,sym,dso" if ns.symbols else "")],
                                capture_output=True, text=True).stdout
        symbols: dict[str, Counter[str]] = {}
        per = charge(script, roles, symbols if ns.symbols else None)
        ms = ns.period_us / 1000 / ns.repeat
        for name, counts in per.items():
            walls[name].sort()
            print(f"{name}: CPU per run {sum(counts.values()) * ms:.1f} ms "
                  f"(wall median {walls[name][len(walls[name]) // 2] * 1000:.0f} ms)")
            for role, n in counts.most_common():
                print(f"  {role:32s} {n * ms:6.2f} ms")
                for sym, k in symbols.get(f"{name}: {role}", Counter()).most_common(ns.symbols):
                    print(f"      {k * ms:6.2f} ms  {sym}")
    finally:
        for e in started.values():
            e.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
