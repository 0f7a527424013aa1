"""A/B of two berth source trees: the same scenarios as bench.run, two private berthds, runs
alternated (A B A B) so drift on a shared machine hits both alike.

Usage: .venv/bin/python -m bench.ab BEFORE_SRC AFTER_SRC [--repeat N] [--only NAME ...]

Each tree (a ``src`` directory, e.g. of a ``git worktree`` at the older commit) is put first on
PYTHONPATH of its daemon, its shims and its berth CLI, and byte-compiled first (this machine
sets PYTHONDONTWRITEBYTECODE=1). Prints medians, (min-max) and after/before per scenario.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.engines import Engine, start_berthd_tree
from bench.run import SCENARIOS, Scenario, _timed


def ps_a_200_none(e: Engine) -> float:
    """ps -a over 200 containers created with --network none: comparable with trees from
    before 2026-11-28, which reserved a bridge address at create (a /25 holds ~120)."""
    ids: list[str] = []
    try:
        for _ in range(200):
            ids.append(e.docker("create", "--network", "none", "busybox", "true").stdout.decode().strip())
        return _timed(e, "ps", "-a")
    finally:
        if ids:
            e.docker("rm", *ids, check=False)


AB_SCENARIOS: dict[str, Scenario] = {**SCENARIOS, "ps -a (200 containers, --network none)": ps_a_200_none}


def _fmt(values: list[float]) -> str:
    good = [v for v in values if v == v]
    if not good:
        return "n/a"
    return f"{statistics.median(good):.3f}s ({min(good):.3f}-{max(good):.3f})"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bench.ab")
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    p.add_argument("--repeat", type=int, default=9)
    p.add_argument("--only", nargs="*", default=None, help="substrings of scenario names")
    ns = p.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="berth-ab-"))
    engines: dict[str, Engine] = {}
    results: dict[str, dict[str, list[float]]] = {}
    try:
        for label, src in (("before", ns.before), ("after", ns.after)):
            engines[label] = start_berthd_tree(base / label, src.resolve())
        for name, fn in AB_SCENARIOS.items():
            if ns.only and not any(o in name for o in ns.only):
                continue
            results[name] = {label: [] for label in engines}
            for _ in range(ns.repeat):
                for label, e in engines.items():
                    try:
                        results[name][label].append(fn(e))
                    except subprocess.CalledProcessError as err:
                        print(f"{label}: {name}: {err.stderr.decode().strip()}", file=sys.stderr)
                        results[name][label].append(float("nan"))
    finally:
        for e in engines.values():
            e.stop()
        shutil.rmtree(base, ignore_errors=True)
    print("| scenario | before | after | after/before |\n|---|---|---|---|")
    for name, per in results.items():
        b = [v for v in per["before"] if v == v]
        a = [v for v in per["after"] if v == v]
        ratio = f"{statistics.median(a) / statistics.median(b):.2f}" if a and b else "n/a"
        print(f"| {name} | {_fmt(per['before'])} | {_fmt(per['after'])} | {ratio} |")


if __name__ == "__main__":
    main()
