"""Benchmark: ``<runtime> run`` of a busybox bundle running ``true`` — berth-runtime vs runc vs crun.

Run as root: ``.venv/bin/python bench/runtime.py [-n 20]``. Each runtime gets the same bundle
(busybox rootfs, Docker-like mounts and namespaces) and its own state root under one temp dir,
removed at the end. crun refuses this hybrid host while /sys/fs/cgroup/unified has a v2
mount, so on such a host the whole bench re-runs itself in a private mount namespace with
that mount hidden: all three runtimes see the same cgroup v1 layout, and none is started
through a wrapper (an ``unshare -m sh -c 'umount ...; exec crun'`` per run cost crun ~3 ms,
a quarter of its time, and flattered the ratios).
Runtimes alternate run by run (A B C A B C ...) so drift on a shared machine hits all alike.
``--gap S`` pauses before each run. ``--tree LABEL=SRC`` (repeatable) adds berth-runtime with
``PYTHONPATH=SRC`` as another runtime, for an A/B of two source trees beside runc and crun.
Prints the median and best wall time and the median CPU time (user + system of the command
and its children, which load on other cores disturbs less than wall time) per runtime; a
runtime that is missing or fails is named.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from berth.runtime.cli.info import default_spec
from berth.testing.rootfs import make_busybox_rootfs


def _bundle(base: Path) -> Path:
    bundle = base / "bundle"
    make_busybox_rootfs(bundle / "rootfs")
    spec = default_spec()
    spec["ociVersion"] = "1.0.2"  # crun 1.8 refuses newer versions
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["true"]
    spec["root"]["readonly"] = False
    (bundle / "config.json").write_text(json.dumps(spec))
    return bundle


def _command(name: str, root: Path) -> list[str] | None:
    if name == "berth-runtime":
        return [str(Path(sys.executable).parent / "berth-runtime"), "--root", str(root)]
    path = shutil.which(name)
    if path is None:
        return None
    return [path, "--root", str(root)]


def _once(cmd: list[str], bundle: Path, name: str,
          env: dict[str, str] | None = None) -> tuple[float, float] | str:
    """(wall s, CPU s) of one ``run``, or the error."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([*cmd, "run", "--bundle", str(bundle), name], capture_output=True, text=True,
                          env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        return f"failed: {proc.stderr.strip()[:200]}"
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


_UNIFIED = "/sys/fs/cgroup/unified"
_REEXEC = "BERTH_BENCH_RT_PRIVATE_NS"


def _hide_unified() -> None:
    """Re-run this bench in a private mount namespace without the (empty) v2 hierarchy."""
    if os.environ.get(_REEXEC) or not os.path.ismount(_UNIFIED):
        return
    os.environ[_REEXEC] = "1"
    os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                          f'umount {_UNIFIED} && exec "$@"', "sh", sys.executable, *sys.orig_argv[1:]])


def main() -> None:
    _hide_unified()
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--tree", action="append", default=[], metavar="LABEL=SRC",
                        help="also run berth-runtime with PYTHONPATH=SRC under this label")
    parser.add_argument("--gap", type=float, default=0.0, metavar="SECONDS",
                        help="pause before each run (cold kernel locks and caches, as for a rare start)")
    args = parser.parse_args()
    envs: dict[str, dict[str, str]] = {}
    base = Path(tempfile.mkdtemp(prefix="berth-bench-rt-"))
    try:
        bundle = _bundle(base)
        print(f"{'runtime':15} {'median ms':>10} {'best ms':>9} {'CPU ms':>8}   "
              f"({args.n} runs of `run` true, alternating)")
        cmds: dict[str, list[str]] = {}
        results: dict[str, list[tuple[float, float]] | str] = {}
        for name in ("berth-runtime", "runc", "crun"):
            cmd = _command(name, base / f"state-{name}")
            if cmd is None:
                results[name] = "not installed"
            else:
                cmds[name] = cmd
                results[name] = []
        for tree in args.tree:
            label, _, src = tree.partition("=")
            cmd = _command("berth-runtime", base / f"state-{label}")
            assert cmd is not None
            cmds[label] = cmd
            results[label] = []
            envs[label] = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
        for i in range(args.n):
            for name, cmd in cmds.items():
                got = results[name]
                if isinstance(got, str):
                    continue
                if args.gap:
                    time.sleep(args.gap)
                one = _once(cmd, bundle, f"bench{i}", envs.get(name))
                if isinstance(one, str):
                    results[name] = one
                else:
                    got.append(one)
        for name, got in results.items():
            if isinstance(got, str):
                print(f"{name:15} {got}")
                continue
            walls = [w for w, _ in got]
            print(f"{name:15} {statistics.median(walls) * 1000:10.1f} {min(walls) * 1000:9.1f} "
                  f"{statistics.median(c for _, c in got) * 1000:8.1f}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
