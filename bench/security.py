"""Escape probes under berth and under Docker, side by side (issue 9's comparison; not timed).

Usage: .venv/bin/python -m bench.security [--keep]

Builds tests/security/escape_probe.c (static, host gcc), starts a private berthd and — when
dockerd is installed — a private dockerd (own sockets and roots, `--bridge=none
--iptables=false`), runs the probe in a busybox container under each engine's defaults and
under --cap-drop NET_RAW, --cap-add SYS_ADMIN and --privileged, plus the setuid probe under
--security-opt no-new-privileges, and prints one row per probe with both verdicts. Rows
where the engines disagree are marked with `!`. Without dockerd only berth's column is shown.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.engines import Engine, start_berthd, start_dockerd

SOURCE = Path(__file__).resolve().parent.parent / "tests" / "security" / "escape_probe.c"

SCENARIOS: dict[str, list[str]] = {
    "defaults": [],
    "--cap-drop NET_RAW": ["--cap-drop", "NET_RAW"],
    "--cap-add SYS_ADMIN": ["--cap-add", "SYS_ADMIN"],
    "--privileged": ["--privileged"],
}


def _build(base: Path) -> tuple[Path, Path]:
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o755)
    binary = base / "escape_probe"
    subprocess.run(["gcc", "-static", "-O1", "-o", str(binary), str(SOURCE)], check=True,
                   capture_output=True, timeout=120)
    suid = base / "escape_probe_suid"
    shutil.copy2(binary, suid)
    os.chmod(suid, 0o4755)
    marker = base / "host-only-marker"
    marker.write_text("host\n")
    return base, marker


def _probe(engine: Engine, kit: Path, marker: Path, flags: list[str]) -> dict[str, str]:
    dev = os.stat("/").st_dev
    res = engine.docker("run", "--rm", "-v", f"{kit}:/probe:ro", *flags, "busybox",
                        "/probe/escape_probe", "all", str(os.getpid()), str(marker),
                        str(os.major(dev)), str(os.minor(dev)), check=False)
    if res.returncode != 0:
        return {"(run failed)": res.stderr.decode().strip().splitlines()[0][-110:]}
    out = {}
    for line in res.stdout.decode().splitlines():
        name, _, verdict = line.partition(" ")
        out[name] = verdict
    return out


def _nnp(engine: Engine, kit: Path) -> dict[str, str]:
    out = {}
    for label, extra in (("setuid euid", []), ("setuid euid, no-new-privileges",
                                                ["--security-opt", "no-new-privileges"])):
        res = engine.docker("run", "--rm", "-v", f"{kit}:/probe:ro", "--user", "1000:1000", *extra,
                            "busybox", "/probe/escape_probe_suid", "euid", check=False)
        out[label] = res.stdout.decode().strip() or res.stderr.decode().strip()[:40]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="berth-bench-sec-"))
    engines: list[Engine] = []
    try:
        kit, marker = _build(base / "probe")
        engines.append(start_berthd(base / "berth"))
        docker = start_dockerd(base / "docker")
        if docker is not None:
            engines.append(docker)
        else:
            print("dockerd not installed: berth only")
        names = [e.name for e in engines]
        width = 34
        for title, flags in SCENARIOS.items():
            results = [_probe(e, kit, marker, flags) for e in engines]
            print(f"\n== {title}")
            print(f"  {'probe':<{width}}" + "".join(f"{n:<22}" for n in names))
            for probe in dict.fromkeys(k for r in results for k in r):
                verdicts = [r.get(probe, "-") for r in results]
                mark = "!" if len(set(verdicts)) > 1 else " "
                print(f"{mark} {probe:<{width}}" + "".join(f"{v:<22}" for v in verdicts))
        print("\n== no-new-privileges (uid 1000 runs a setuid-root probe)")
        nnp = [_nnp(e, kit) for e in engines]
        for label in nnp[0]:
            verdicts = [r[label] for r in nnp]
            mark = "!" if len(set(verdicts)) > 1 else " "
            print(f"{mark} {label:<{width}}" + "".join(f"{v:<22}" for v in verdicts))
    finally:
        for e in engines:
            e.stop()
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
