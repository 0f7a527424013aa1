"""Builds the escape probe (escape_probe.c, static, with the host's gcc) and runs it in containers."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import Daemon

SOURCE = Path(__file__).with_name("escape_probe.c")


@dataclass(frozen=True)
class ProbeKit:
    dir: Path          # bind-mounted read-only at /probe
    marker: Path       # a host file no container may see

    def mount(self) -> list[str]:
        return ["-v", f"{self.dir}:/probe:ro"]


def build(base: Path) -> ProbeKit:
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o755)
    binary = base / "escape_probe"
    subprocess.run(["gcc", "-static", "-O1", "-o", str(binary), str(SOURCE)], check=True,
                   capture_output=True, timeout=120)
    # A setuid-root copy: under no-new-privileges exec must not raise the euid.
    suid = base / "escape_probe_suid"
    shutil.copy2(binary, suid)
    os.chown(suid, 0, 0)
    os.chmod(suid, 0o4755)
    marker = base / "host-only-marker"
    marker.write_text("host\n")
    return ProbeKit(base, marker)


def host_disk() -> tuple[int, int]:
    dev = os.stat("/").st_dev
    return os.major(dev), os.minor(dev)


def run_all(daemon: Daemon, kit: ProbeKit, *flags: str, engine: str = "") -> dict[str, str]:
    """Every probe's verdict: "allowed" or "blocked <ERRNO>"."""
    major, minor = host_disk()
    args = ["run", "--rm", *kit.mount(), *flags, "busybox", "/probe/escape_probe", "all",
            str(os.getpid()), str(kit.marker), str(major), str(minor)]
    res = daemon.docker(*args, timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    out: dict[str, str] = {}
    for line in res.stdout.decode().splitlines():
        name, _, verdict = line.partition(" ")
        out[name] = verdict
    return out


def host_can_read_disk() -> bool:
    """Whether root on the host itself may read the root disk (sandboxed VMs may forbid it)."""
    major, minor = host_disk()
    try:
        fd = os.open(f"/dev/block/{major}:{minor}", os.O_RDONLY)
    except OSError:
        return False
    try:
        return len(os.read(fd, 1)) == 1
    finally:
        os.close(fd)
