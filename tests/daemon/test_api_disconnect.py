"""Clients leaving long answers early (a ``/wait`` whose ``docker run`` was interrupted, an
events stream, ``logs -f``, a stats stream, an attach, a build) are normal: berthd ends those
requests when the client leaves, logs no traceback, and keeps serving."""

from __future__ import annotations

import gc
import io
import socket
import tarfile
import time
import warnings
from pathlib import Path

import docker
import pytest
import requests

from tests.conftest import Daemon

pytestmark = pytest.mark.root


def _send(path: Path, method: str, target: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(path))
    s.sendall(f"{method} {target} HTTP/1.1\r\nHost: berth\r\nContent-Length: 0\r\n\r\n".encode())
    s.settimeout(10)
    assert s.recv(12).startswith(b"HTTP/1.1 200"), target  # the answer has begun
    return s


def _log_since(daemon: Daemon, offset: int) -> str:
    assert daemon.log_path is not None
    with daemon.log_path.open("rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def test_dropped_streams_end_quietly(daemon: Daemon, names: list[str]) -> None:
    if daemon.log_path is None:
        pytest.skip("BERTH_TEST_HOST: this test reads the session daemon's own log")
    names.append("drop-streams")
    r = daemon.docker("run", "-d", "--name", "drop-streams", "busybox", "sh", "-c",
                      "while true; do echo tick; sleep 0.2; done")
    assert r.returncode == 0, r.stderr
    offset = daemon.log_path.stat().st_size
    socks = [_send(daemon.socket, "POST", "/containers/drop-streams/wait"),
             _send(daemon.socket, "GET", "/events"),
             _send(daemon.socket, "GET", "/containers/drop-streams/logs?follow=1&stdout=1"),
             _send(daemon.socket, "GET", "/containers/drop-streams/stats"),
             _send(daemon.socket, "POST", "/containers/drop-streams/attach?stream=1&stdout=1")]
    client = docker.DockerClient(base_url=daemon.host)
    try:
        # The SDK gives up on a wait that takes too long and closes its connection.
        with pytest.raises(requests.exceptions.ConnectionError):
            client.containers.get("drop-streams").wait(timeout=1)
    finally:
        client.close()
        # The SDK drops the timed-out connection without closing its socket; collect it
        # here, or its ResourceWarning (an error under our filterwarnings) fails whichever
        # later test the garbage collector happens to run in.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
    for s in socks:
        s.close()

    # Each long request ends when its client leaves, while the container still runs.
    wanted = ["POST /containers/drop-streams/wait: client went away",
              "GET /events: client went away",
              "GET /containers/drop-streams/logs: client went away"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(w in _log_since(daemon, offset) for w in wanted):
        time.sleep(0.1)
    log = _log_since(daemon, offset)
    assert all(w in log for w in wanted), log
    assert log.count("/wait: client went away") >= 2, log  # the SDK's too
    assert daemon.docker("inspect", "-f", "{{.State.Running}}", "drop-streams").stdout == b"true\n"

    # The dropped stats stream and attach are noticed at their next write; then stop it.
    time.sleep(1.5)
    assert daemon.docker("rm", "-f", "drop-streams").returncode == 0
    time.sleep(0.5)
    log = _log_since(daemon, offset)
    assert "Traceback" not in log and " ERROR " not in log, log
    assert daemon.docker("version").returncode == 0


def test_dropped_build_is_cancelled(daemon: Daemon, tmp_path: Path) -> None:
    """``docker build`` interrupted: the build stops, its RUN container is removed, nothing
    is tagged, no work directory stays behind, and nothing is logged as a failure."""
    if daemon.log_path is None:
        pytest.skip("BERTH_TEST_HOST: this test reads the session daemon's own log")
    body = io.BytesIO()
    with tarfile.open(fileobj=body, mode="w") as tar:
        data = b"FROM busybox\nRUN echo $((6*7)); sleep 300\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    offset = daemon.log_path.stat().st_size
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(daemon.socket))
    payload = body.getvalue()
    s.sendall(f"POST /build?t=drop-build:1&rm=1 HTTP/1.1\r\nHost: berth\r\nContent-Type: "
              f"application/x-tar\r\nContent-Length: {len(payload)}\r\n\r\n".encode() + payload)
    s.settimeout(30)
    seen = b""
    try:
        # {"stream": "42\n"}: the RUN step's container runs (its output, not the step line).
        while b'"42\\n"' not in seen:
            chunk = s.recv(65536)
            assert chunk, seen
            seen += chunk
    finally:
        s.close()

    def build_containers() -> bytes:
        return daemon.docker("ps", "-aq", "--filter", "label=berth.build").stdout

    deadline = time.monotonic() + 15
    while build_containers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert build_containers() == b""
    assert daemon.docker("image", "inspect", "drop-build:1").returncode != 0
    assert not list((daemon.data_root / "tmp").glob("build-*"))
    log = _log_since(daemon, offset)
    assert "POST /build: client went away" in log, log
    assert "Traceback" not in log and " ERROR " not in log, log
