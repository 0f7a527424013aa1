"""Streams that may wait long for their first output (``logs -f`` of a silent container, an
attach, events) answer with their headers at once, as dockerd does: before, ``logs -f`` sent
nothing until the first line, so a client whose berthd stopped meanwhile said "Cannot
connect to the Docker daemon" instead of ending the way docker's CLI ends a stream."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Daemon, start_berthd, stop_berthd
from tests.daemon.helpers import boot, new_name

pytestmark = pytest.mark.root


def _head(path: Path, method: str, target: str) -> bytes:
    """The bytes that arrive within 5 s of the request, up to the end of the headers."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(path))
        s.sendall(f"{method} {target} HTTP/1.1\r\nHost: berth\r\nContent-Length: 0\r\n\r\n".encode())
        s.settimeout(5)
        got = b""
        try:
            while b"\r\n\r\n" not in got:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except TimeoutError:
            pass
        return got


def test_streams_of_a_silent_container_send_headers_at_once(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names, "quiet")
    daemon.docker("run", "-d", "--name", name, "busybox", "sleep", "1000", check=True)
    for method, target in (("GET", f"/containers/{name}/logs?follow=1&stdout=1&stderr=1"),
                           ("POST", f"/containers/{name}/attach?stream=1&stdout=1&stderr=1"),
                           ("GET", "/events")):
        head = _head(daemon.socket, method, target)
        assert head.startswith(b"HTTP/1.1 200") and b"\r\n\r\n" in head, (target, head)
    # A missing container or an unreadable log is still an error status, not a stream.
    assert _head(daemon.socket, "GET", "/containers/nonesuch/logs?follow=1&stdout=1").startswith(
        b"HTTP/1.1 404")
    unlogged = new_name(names, "unlogged")
    daemon.docker("run", "-d", "--name", unlogged, "--log-driver", "none", "busybox", "sleep",
                  "1000", check=True)
    head = _head(daemon.socket, "GET", f"/containers/{unlogged}/logs?follow=1&stdout=1")
    assert not head.startswith(b"HTTP/1.1 200"), head


def test_logs_follow_of_a_silent_container_ends_cleanly_when_berthd_stops(
        own_daemon: tuple[Path, list[Daemon]]) -> None:
    base, started = own_daemon
    d = boot(base, started)
    d.docker("run", "-d", "--name", "silent", "busybox", "sleep", "1000", check=True)
    follow = subprocess.Popen(["docker", "-H", d.host, "logs", "-f", "silent"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # berthd stops while the CLI waits for the first line.
        time.sleep(2)
        assert follow.poll() is None
        stop_berthd(d)
        _, err = follow.communicate(timeout=30)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    # The stream ends as any other whose daemon went: quietly, status 0.
    assert (follow.returncode, err) == (0, b""), err
    d = start_berthd(base)
    started.append(d)
    d.docker("rm", "-f", "silent", check=True)
