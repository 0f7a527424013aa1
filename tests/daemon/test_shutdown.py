"""berthd's stop is bounded: on SIGTERM it stops accepting, ends endless answers (events,
logs -f, attach, a stats stream) at once, gives other requests in flight a grace period,
cancels what is left, closes what it holds and exits; containers keep running and the next
berthd re-adopts them."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Daemon, start_berthd
from tests.daemon.helpers import boot, eventually, inspect

pytestmark = pytest.mark.root

# berthd's grace for ordinary requests (berth.daemon.main._REQUEST_GRACE) plus room for the
# rest of its stop on a loaded machine; the old code waited for aiohttp's 60 s per connection.
_BOUND = 15.0


def _raw(sock: Path, head: bytes) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(sock))
    s.sendall(head)
    return s


def _read_to_eof(s: socket.socket, timeout: float) -> bytes:
    """Everything the daemon sends until it closes the connection (fails if it does not)."""
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"connection still open after {timeout} s; got {data[-200:]!r}"
        if not select.select([s], [], [], left)[0]:
            continue
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def test_sigterm_ends_streams_and_hung_requests_then_containers_are_readopted(
        own_daemon: tuple[Path, list[Daemon]]) -> None:
    base, started = own_daemon
    d = boot(base, started)
    d.docker("run", "-d", "--name", "ticker", "busybox", "sh", "-c",
             "while true; do echo tick; sleep 0.2; done", check=True)
    pid = inspect(d, "ticker")["State"]["Pid"]
    factory = int((d.exec_root / "shim-factory.pid").read_text())
    clients: list[subprocess.Popen[bytes]] = []
    raw: list[socket.socket] = []
    try:
        for args in (["events"], ["logs", "-f", "ticker"], ["attach", "--no-stdin", "ticker"]):
            clients.append(subprocess.Popen(["docker", *args], env=d.env, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE))
        stats = _raw(d.socket, b"GET /containers/ticker/stats HTTP/1.1\r\nHost: x\r\n\r\n")
        raw.append(stats)
        # An ordinary request kept busy by its client: a create whose body never completes.
        hung = _raw(d.socket, b"POST /containers/create HTTP/1.1\r\nHost: x\r\n"
                              b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"Im")
        raw.append(hung)
        # Every stream is under way (logs and attach have output) before the stop.
        assert clients[1].stdout is not None and clients[1].stdout.readline() == b"tick\n"
        assert clients[2].stdout is not None and clients[2].stdout.readline() == b"tick\n"
        assert select.select([stats], [], [], 10)[0]

        assert d.process is not None
        d.process.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        # The streams end without waiting for the grace given to the hung create.
        for c in clients:
            c.wait(timeout=_BOUND)
        streams_ended = time.monotonic()
        body = _read_to_eof(stats, _BOUND)
        assert body.endswith(b"0\r\n\r\n"), body[-100:]  # the chunked answer's proper end
        assert clients[0].returncode == 0, clients[0].stderr  # docker events: a plain end
        assert _read_to_eof(hung, _BOUND) == b""  # cut: nothing to answer a half-sent create
        hung_ended = time.monotonic()
        d.process.wait(timeout=_BOUND - (time.monotonic() - sent))
        assert streams_ended < hung_ended
        log = (base / "berthd.log").read_text()
        drained = re.search(r"(\d+) streams ended, (\d+) waited for, (\d+) cancelled", log)
        assert drained is not None, log[-2000:]
        assert int(drained[1]) >= 4 and drained[2] == drained[3] == "1", drained[0]
    finally:
        for c in clients:
            if c.poll() is None:
                c.kill()
            c.wait()
            for f in (c.stdout, c.stderr):
                if f is not None:
                    f.close()
        for s in raw:
            s.close()

    # berthd closed what it held: socket, pid file, and its shim factory follows it out.
    assert d.process.returncode == 0
    assert not d.socket.exists() and not (base / "berthd.pid").exists()
    eventually(lambda: not Path(f"/proc/{factory}").exists()
               or b"berth.shim.factory" not in Path(f"/proc/{factory}/cmdline").read_bytes(),
               timeout=10)
    os.kill(pid, 0)  # the container runs on (live restore)

    d = start_berthd(base)
    started.append(d)
    assert inspect(d, "ticker")["State"]["Status"] == "running"
    assert inspect(d, "ticker")["State"]["Pid"] == pid
    assert d.docker("exec", "ticker", "echo", "back", check=True).stdout == b"back\n"
    d.docker("rm", "-f", "ticker", check=True)


def test_shutdown_deadline_ends_a_process_its_threads_keep_alive() -> None:
    """A worker thread stuck in a system call cannot be cancelled and is joined at exit: the
    deadline armed at the start of the stop ends the process anyway."""
    code = ("import threading, os\n"
            "from berth.daemon import deadline\n"
            "r, w = os.pipe()\n"
            "threading.Thread(target=os.read, args=(r, 1)).start()  # never returns\n"
            "deadline.arm(0.5)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    assert proc.returncode == 1
    assert b"shutdown did not finish" in proc.stderr, proc.stderr


def test_a_stopped_shim_factory_does_not_hold_up_the_stop(own_daemon: tuple[Path, list[Daemon]],
                                                           ) -> None:
    """The factory's answer and exit are waited for 2 s in all, so a stop that also gives a
    request its whole grace still ends in order, well before the deadline (which would exit
    1); the factory, watching berthd, leaves after it once it runs again."""
    base, started = own_daemon
    d = start_berthd(base)
    started.append(d)
    factory = int((d.exec_root / "shim-factory.pid").read_text())
    os.kill(factory, signal.SIGSTOP)
    try:
        assert d.process is not None
        d.process.send_signal(signal.SIGTERM)
        d.process.wait(timeout=_BOUND)
    finally:
        os.kill(factory, signal.SIGCONT)
    assert d.process.returncode == 0
    log = (base / "berthd.log").read_text()
    assert "the shim factory did not exit within 2 s" in log, log[-2000:]
    assert "shutdown did not finish" not in log
    assert not d.socket.exists() and not (base / "berthd.pid").exists()
    eventually(lambda: not Path(f"/proc/{factory}").exists()
               or b"berth.shim.factory" not in Path(f"/proc/{factory}/cmdline").read_bytes(),
               timeout=10)
