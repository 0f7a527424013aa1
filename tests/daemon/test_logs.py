"""Logs: json-file rotation (max-size / max-file), --since/--until/--tail/--timestamps/-f,
--log-driver none, and 100 MB streamed through berthd without its memory growing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.daemon.helpers import inspect, new_name

pytestmark = pytest.mark.root


def test_rotation_max_size_max_file(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "l")
    daemon.docker("run", "--name", name, "--log-opt", "max-size=10k", "--log-opt", "max-file=3",
                  "busybox", "sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done",
                  check=True)
    log = Path(inspect(daemon, name)["LogPath"])
    files = sorted(p.name for p in log.parent.iterdir() if p.name.startswith(log.name))
    assert files == [log.name, log.name + ".1", log.name + ".2"]
    for f in files:
        assert (log.parent / f).stat().st_size <= 10 * 1024 + 200
    out = daemon.docker("logs", name, check=True).stdout.decode().splitlines()
    assert out[-1] == "line-1999"
    numbers = [int(x.split("-")[1]) for x in out]
    assert numbers == list(range(numbers[0], 2000))  # contiguous across the rotated files
    assert numbers[0] > 0  # the oldest lines were rotated away


def test_since_until_tail_timestamps(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "l")
    daemon.docker("run", "--name", name, "busybox", "sh", "-c",
                  "echo one; echo two >&2; sleep 1.2; echo three", check=True)
    assert daemon.docker("logs", "--tail", "1", name, check=True).stdout == b"three\n"
    r = daemon.docker("logs", "--tail", "2", name, check=True)
    assert (r.stdout, r.stderr) == (b"three\n", b"two\n")
    stamped = daemon.docker("logs", "-t", name, check=True).stdout.decode().splitlines()
    ts = [line.split(" ", 1)[0] for line in stamped]
    assert [line.split(" ", 1)[1] for line in stamped] == ["one", "three"]
    assert all(t.endswith("Z") and "T" in t for t in ts)
    from berth.timefmt import parse_to_ns

    third = parse_to_ns(ts[1]) / 1e9
    assert daemon.docker("logs", "--since", f"{third - 0.5:.3f}", name,
                         check=True).stdout == b"three\n"
    r = daemon.docker("logs", "--until", f"{third - 0.5:.3f}", name, check=True)
    assert (r.stdout, r.stderr) == (b"one\n", b"two\n")


def test_follow_ends_with_the_container(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "l")
    daemon.docker("run", "-d", "--name", name, "busybox", "sh", "-c",
                  "for i in 1 2 3; do echo n$i; sleep 0.3; done", check=True)
    r = daemon.docker("logs", "-f", name, timeout=20, check=True)
    assert r.stdout == b"n1\nn2\nn3\n"


def test_log_driver_none(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "l")
    r = daemon.docker("run", "--name", name, "--log-driver", "none", "busybox", "echo", "hidden")
    assert r.returncode == 0 and r.stdout == b"hidden\n"  # attached output still arrives
    info = inspect(daemon, name)
    assert info["HostConfig"]["LogConfig"]["Type"] == "none"
    assert info["LogPath"] == ""  # as dockerd: no log file to name
    assert not (daemon.data_root / "containers" / info["Id"] / f"{info['Id']}-json.log").exists()
    r = daemon.docker("logs", name)
    assert r.returncode != 0
    assert b"configured logging driver does not support reading" in r.stderr


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_100mb_of_logs_stream_in_constant_memory(daemon: Daemon, names: list[str]) -> None:
    assert daemon.process is not None
    name = new_name(names, "l")
    daemon.docker("run", "--name", name, "busybox", "sh", "-c",
                  "yes $(printf '%0999d' 7) | head -c 100000000", check=True, timeout=300)
    size = sum(p.stat().st_size for p in Path(inspect(daemon, name)["LogPath"]).parent.iterdir()
               if p.name.endswith(".log"))
    assert size > 100_000_000
    before = _rss_kib(daemon.process.pid)
    peak = before
    proc = subprocess.Popen(["docker", "logs", name], env=daemon.env, stdout=subprocess.PIPE)
    total = 0
    assert proc.stdout is not None
    try:
        while chunk := proc.stdout.read(1 << 20):
            total += len(chunk)
            peak = max(peak, _rss_kib(daemon.process.pid))
    finally:
        proc.stdout.close()
        proc.wait()
    assert total == 100_000_000
    # streamed, not loaded: berthd grows by far less than the 100 MB it served
    assert peak - before < 30 * 1024, (before, peak)
