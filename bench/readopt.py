"""berthd's start with stopped shims: how long until it serves, for two source trees.

Usage: .venv/bin/python -m bench.readopt BEFORE_SRC AFTER_SRC [--repeat N] [--frozen F]
       [--healthy H] [--how stop|wedge]

Each tree (a ``src`` directory) gets a private berthd running F + H ``sleep`` containers. Then,
trees alternated run by run: the berthd is stopped (its containers keep running), the shims of
the F containers silenced, the berthd started again and timed until it serves (its socket
answers ``docker version``; berthd listens once its start-up re-adoption is done), then the
shims let answer again and the re-adoption awaited. Silenced: ``stop`` SIGSTOPs the shim;
``wedge`` moves its socket away and puts in its place one that takes connections and never
answers, as a wedged shim's. Prints medians, (min-max) and after/before.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.engines import Engine, _wait_socket, start_berthd_tree
from berth.testing.netcleanup import private_network_flags
from berth.testing.shimsilence import stopped, wedged


def _restart(e: Engine, src: Path) -> float:
    """Stop ``e``'s berthd and start it again on the same roots; seconds until it serves."""
    e.process.send_signal(signal.SIGTERM)
    e.process.wait(60)
    root = e.root
    env = dict(os.environ, PYTHONPATH=str(src))
    log = open(root / "berthd.log", "ab")  # noqa: SIM115 - lives as long as the daemon
    started = time.monotonic()
    e.process = subprocess.Popen(
        [sys.executable, "-m", "berth.daemon.main", "-H", f"unix://{e.socket}",
         "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
         *private_network_flags(str(root)),
         "--pidfile", str(root / "berthd.pid"), "--cgroup-parent", e.cgroup_parent,
         "--metrics-addr", ""],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    _wait_socket(e.socket, e.process, timeout=300)
    e.docker("version")
    return time.monotonic() - started


def _shims(e: Engine, names: list[str]) -> list[int]:
    """The shim of each container: its init's parent."""
    pids = []
    for name in names:
        pid = e.docker("inspect", "-f", "{{.State.Pid}}", name).stdout.decode().strip()
        raw = Path(f"/proc/{pid}/stat").read_text()
        pids.append(int(raw[raw.rindex(")") + 2:].split()[1]))
    return pids


@contextlib.contextmanager
def _wedged(sockets: list[Path]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for path in sockets:
            stack.enter_context(wedged(path))
        yield


def _one(e: Engine, src: Path, frozen: list[str], healthy: list[str], how: str) -> float:
    if how == "stop":
        silenced = stopped(_shims(e, frozen))
    else:
        ids = [e.docker("inspect", "-f", "{{.Id}}", name).stdout.decode().strip() for name in frozen]
        silenced = _wedged([e.root / "exec" / "containers" / cid / "shim.sock" for cid in ids])
    e.process.send_signal(signal.SIGTERM)
    e.process.wait(60)
    with silenced:
        took = _restart(e, src)
    # Re-adopted in the background once continued: exec goes through the shim again.
    for name in frozen + healthy:
        deadline = time.monotonic() + 30
        while e.docker("exec", name, "true", check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not re-adopted")
            time.sleep(0.1)
    return took


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bench.readopt")
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--frozen", type=int, default=3)
    p.add_argument("--healthy", type=int, default=2)
    p.add_argument("--how", choices=("stop", "wedge"), default="stop")
    ns = p.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="berth-readopt-"))
    frozen = [f"frozen{i}" for i in range(ns.frozen)]
    healthy = [f"healthy{i}" for i in range(ns.healthy)]
    trees = {"before": ns.before.resolve(), "after": ns.after.resolve()}
    engines: dict[str, Engine] = {}
    took: dict[str, list[float]] = {label: [] for label in trees}
    try:
        for label, src in trees.items():
            e = start_berthd_tree(base / label, src)
            engines[label] = e
            for name in frozen + healthy:
                e.docker("run", "-d", "--name", name, "--network", "none", "busybox", "sleep", "3600")
        for _ in range(ns.repeat):
            for label, src in trees.items():
                took[label].append(_one(engines[label], src, frozen, healthy, ns.how))
    finally:
        for e in engines.values():
            e.stop()
        shutil.rmtree(base, ignore_errors=True)
    silenced = "stopped" if ns.how == "stop" else "wedged"
    print(f"berthd start until it serves, {ns.frozen} {silenced} + {ns.healthy} answering shims, "
          f"{ns.repeat} runs each")
    for label, values in took.items():
        print(f"  {label:6} {statistics.median(values):.3f}s ({min(values):.3f}-{max(values):.3f})")
    print(f"  after/before {statistics.median(took['after']) / statistics.median(took['before']):.2f}")


if __name__ == "__main__":
    main()
