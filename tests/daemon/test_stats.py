"""Container stats through the real docker CLI, the docker SDK and raw HTTP: the numbers are
the kernel's (a busy loop is about one core, an allocation shows up in memory, bytes sent show
in NET I/O), the JSON has Docker's shape, streaming gives one object per second."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import docker
import pytest

from tests.conftest import Daemon
from tests.daemon.apihttp import request
from tests.daemon.helpers import ok

_BUSY_MIN = 40.0


def _name() -> str:
    return f"st-{uuid.uuid4().hex[:10]}"


@contextmanager
def _running(daemon: Daemon, *args: str) -> Iterator[str]:
    name = _name()
    ok(daemon.docker("run", "-d", "--name", name, *args))
    try:
        yield name
    finally:
        daemon.docker("rm", "-f", name)


def _stats(daemon: Daemon, ref: str, query: str = "stream=false") -> dict[str, Any]:
    status, headers, body = request(str(daemon.socket), "GET", f"/containers/{ref}/stats?{query}")
    assert status == 200, body
    assert headers["content-type"] == "application/json"
    data: dict[str, Any] = json.loads(body)
    return data


def _cpu_percent(s: dict[str, Any]) -> float:
    cpu, pre = s["cpu_stats"], s["precpu_stats"]
    d_cpu = cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
    d_sys = cpu["system_cpu_usage"] - pre.get("system_cpu_usage", 0)
    return d_cpu / d_sys * cpu["online_cpus"] * 100.0


def _mib(text: str) -> float:
    units = {"B": 1 / 2**20, "KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0, "kB": 1000 / 2**20,
             "MB": 1e6 / 2**20, "GB": 1e9 / 2**20}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    raise AssertionError(f"no unit in {text!r}")


def test_busy_loop_is_about_one_core_in_json_and_docker_stats(daemon: Daemon) -> None:
    with _running(daemon, "busybox", "sh", "-c", "while :; do :; done") as name:
        time.sleep(2.5)  # the collector has samples one second apart by now
        s = _stats(daemon, name)
        assert s["name"] == f"/{name}" and len(s["id"]) == 64
        assert s["preread"] != "0001-01-01T00:00:00Z" and s["read"] > s["preread"]
        assert s["pids_stats"]["current"] == 1
        assert s["cpu_stats"]["online_cpus"] >= 1
        assert len(s["cpu_stats"]["cpu_usage"]["percpu_usage"]) >= 1
        # About one core; the lower bound leaves room for other load on a 2-core test machine.
        assert _BUSY_MIN <= _cpu_percent(s) <= 130.0, _cpu_percent(s)
        out = ok(daemon.docker("stats", "--no-stream", "--format",
                               "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}", name)).strip()
        got_name, cpu, mem, pids = out.split("|")
        assert got_name == name and pids == "1"
        assert _BUSY_MIN <= float(cpu.rstrip("%")) <= 130.0, out
        # no -m: the limit shown is the host's memory, as Docker shows it
        assert _mib(mem.split(" / ")[1]) > 256


def test_allocation_shows_in_memory_with_the_limit(daemon: Daemon) -> None:
    # 50 MiB in the container's /dev/shm tmpfs is charged to its memory cgroup as shmem.
    with _running(daemon, "-m", "96m", "busybox", "sh", "-c",
                  "head -c 52428800 /dev/zero > /dev/shm/fill && echo filled && sleep 600") as name:
        deadline = time.monotonic() + 20
        while b"filled" not in daemon.docker("logs", name).stdout:
            assert time.monotonic() < deadline, "allocation did not finish"
            time.sleep(0.1)
        s = _stats(daemon, name, "stream=false&one-shot=true")
        mem = s["memory_stats"]
        assert mem["limit"] == 96 * 2**20
        assert mem["usage"] - mem["stats"]["total_inactive_file"] >= 50 * 2**20
        assert s["precpu_stats"]["cpu_usage"]["total_usage"] == 0  # one-shot: no precpu
        out = ok(daemon.docker("stats", "--no-stream", "--format", "{{.MemUsage}}|{{.MemPerc}}", name))
        usage, limit = out.strip().split("|")[0].split(" / ")
        assert _mib(usage) >= 50.0 and limit == "96MiB", out
        assert float(out.strip().split("|")[1].rstrip("%")) >= 50.0


def test_bytes_sent_show_in_net_io(daemon: Daemon) -> None:
    # --network none leaves the container only its loopback; 3 MB through it count in
    # /proc/<pid>/net/dev (both directions: every byte is sent and received on lo).
    script = ("mkdir /tmp/www && head -c 3000000 /dev/zero > /tmp/www/f"
              " && httpd -p 127.0.0.1:7000 -h /tmp/www"
              " && printf 'GET /f HTTP/1.0\\r\\n\\r\\n' | nc -w 5 127.0.0.1 7000 | wc -c"
              " && echo sent && sleep 600")
    with _running(daemon, "--network", "none", "busybox", "sh", "-c", script) as name:
        deadline = time.monotonic() + 20
        while b"sent" not in daemon.docker("logs", name).stdout:
            assert time.monotonic() < deadline, "transfer did not finish"
            time.sleep(0.1)
        s = _stats(daemon, name, "stream=false&one-shot=true")
        assert s["networks"]["lo"]["rx_bytes"] >= 3_000_000
        assert s["networks"]["lo"]["tx_bytes"] >= 3_000_000
        out = ok(daemon.docker("stats", "--no-stream", "--format", "{{.NetIO}}", name)).strip()
        rx = out.split(" / ")[0]
        assert rx.endswith("MB") and float(rx[:-2]) >= 3.0, out


def test_stream_gives_one_object_per_second_via_sdk(daemon: Daemon) -> None:
    client = docker.DockerClient(base_url=daemon.host)
    with _running(daemon, "busybox", "sleep", "600") as name:
        gen = client.api.stats(name, stream=True, decode=True)
        started = time.monotonic()
        objs = [next(gen) for _ in range(3)]
        gen.close()
        elapsed = time.monotonic() - started
        assert objs[0]["preread"] == "0001-01-01T00:00:00Z"
        assert objs[1]["preread"] == objs[0]["read"] and objs[2]["preread"] == objs[1]["read"]
        assert 1.5 <= elapsed <= 4.0, elapsed
        assert all(o["name"] == f"/{name}" for o in objs)
        one = client.containers.get(name).stats(stream=False)
        assert one["memory_stats"]["usage"] > 0
        assert one["blkio_stats"]["io_service_bytes_recursive"] is not None
    client.close()


def test_stopped_and_unknown_containers(daemon: Daemon) -> None:
    name = _name()
    ok(daemon.docker("create", "--name", name, "busybox", "true"))
    try:
        s = _stats(daemon, name)
        assert s["name"] == f"/{name}" and s["read"] == "0001-01-01T00:00:00Z"
        assert s["memory_stats"] == {}
        out = ok(daemon.docker("stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}}", name))
        assert out.strip() == f"{name} 0.00%"
    finally:
        daemon.docker("rm", "-f", name)
    status, _, body = request(str(daemon.socket), "GET", "/containers/nope-nothing/stats?stream=false")
    assert status == 404 and json.loads(body) == {"message": "No such container: nope-nothing"}


@pytest.mark.parametrize("flag", ["--no-stream"])
def test_docker_stats_lists_running_containers_without_args(daemon: Daemon, flag: str) -> None:
    with _running(daemon, "busybox", "sleep", "600") as a, _running(daemon, "busybox", "sleep", "600") as b:
        out = ok(daemon.docker("stats", flag, "--format", "{{.Name}}"))
        names = out.split()
        assert a in names and b in names
