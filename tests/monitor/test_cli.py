"""`berth stats` and `berth events` against a real berthd, next to the docker CLI's output."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

from berth.cli.events import event_line, to_api_time
from berth.cli.stats import bytes_size, stats_row
from tests.conftest import Daemon


def _ok(r: subprocess.CompletedProcess[bytes]) -> str:
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


def test_berth_stats_no_stream_matches_docker_columns(daemon: Daemon) -> None:
    busy, made = f"cs-{uuid.uuid4().hex[:8]}", f"cs-{uuid.uuid4().hex[:8]}"
    try:
        _ok(daemon.docker("run", "-d", "--name", busy, "-m", "40m", "busybox", "sh", "-c",
                          "while :; do :; done"))
        _ok(daemon.docker("create", "--name", made, "busybox", "true"))
        time.sleep(2.2)
        ours = _ok(daemon.berth("stats", "--no-stream")).splitlines()
        theirs = _ok(daemon.docker("stats", "--no-stream")).splitlines()
        assert ours[0].split() == theirs[0].split()  # same header
        row = next(line for line in ours if busy in line).split()
        assert float(row[2].rstrip("%")) > 30 and row[5] == "40MiB"
        assert not any(made in line for line in ours)
        assert any(made in line for line in _ok(daemon.berth("stats", "--no-stream", "-a")).splitlines())
        fmt = "{{.Name}}|{{.MemUsage}}|{{.PIDs}}"
        assert _ok(daemon.berth("stats", "--no-stream", "--format", fmt, busy)).strip().split("|")[1:] \
            == _ok(daemon.docker("stats", "--no-stream", "--format", fmt, busy)).strip().split("|")[1:]
        js = json.loads(_ok(daemon.berth("stats", "--no-stream", "--format", "json", busy)))
        assert list(js) == sorted(js) and js["Name"] == busy and js["PIDs"] == "1"
        r = daemon.berth("stats", "--no-stream", "nosuch-container")
        assert r.returncode == 1 and b"No such container: nosuch-container" in r.stderr
    finally:
        daemon.docker("rm", "-f", busy, made)


def test_berth_stats_streams_to_a_pipe(daemon: Daemon) -> None:
    name = f"cs-{uuid.uuid4().hex[:8]}"
    _ok(daemon.docker("run", "-d", "--name", name, "busybox", "sleep", "600"))
    proc = subprocess.Popen([sys.executable, "-m", "berth.cli.main", "stats", "--format", "{{.Name}}", name],
                            env=daemon.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(2.6)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        daemon.docker("rm", "-f", name)
    assert out.decode().split().count(name) >= 2  # one rendering per second


def test_berth_events_since_until_and_format(daemon: Daemon) -> None:
    name = f"ce-{uuid.uuid4().hex[:8]}"
    since = f"{time.time() - 0.5:.9f}"
    _ok(daemon.docker("run", "--rm", "--name", name, "busybox", "true"))
    until = f"{time.time() + 0.2:.9f}"
    ours = _ok(daemon.berth("events", "--since", since, "--until", until, "--filter", f"container={name}"))
    theirs = _ok(daemon.docker("events", "--since", since, "--until", until, "--filter", f"container={name}"))
    assert ours == theirs and " container start " in ours and " container destroy " in ours
    fmt = "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"
    lines = _ok(daemon.berth("events", "--since", since, "--until", until, "--filter", f"container={name}",
                             "--format", fmt)).splitlines()
    assert lines[0] == f"container create {name}" and lines[-1] == f"container destroy {name}"
    r = daemon.berth("events", "--since", "1m", "--until", "0s", "--filter", "bogus=1")
    assert r.returncode == 1 and b"Invalid filter 'bogus'" in r.stderr


def test_pure_helpers() -> None:
    assert bytes_size(0) == "0B" and bytes_size(253952) == "248KiB" and bytes_size(40 * 2**20) == "40MiB"
    assert to_api_time("10m", now=1000.0) == "400.000000000"
    assert to_api_time("1700000000.5") == "1700000000.5"
    assert to_api_time("2023-11-14T22:13:20Z") == "1700000000.000000000"
    ev = {"Type": "container", "Action": "die", "timeNano": 1_700_000_000_000_000_001,
          "Actor": {"ID": "abc", "Attributes": {"name": "x", "exitCode": "0"}}}
    assert event_line(ev) == "2023-11-14T22:13:20.000000001Z container die abc (exitCode=0, name=x)"
    row = stats_row({"name": "/x", "id": "a" * 64, "memory_stats": {}}, "x")
    assert row["CPUPerc"] == "0.00%" and row["MemUsage"] == "0B / 0B" and row["ID"] == "a" * 12
