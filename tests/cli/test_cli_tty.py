"""`run -it` through a real pseudo-terminal: tty inside, size, resize, raw mode restored,
detach keys; and signal proxying in attached non-tty mode."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest

pytestmark = pytest.mark.root


class PtyCLI:
    """The berth CLI running on the slave side of a pty we hold the master of."""

    def __init__(self, daemon, *args: str, rows: int = 33, cols: int = 101) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.saved = termios.tcgetattr(slave)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "berth.cli.main", *args], stdin=slave, stdout=slave,
            stderr=slave, env=daemon.env, start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        self.slave = slave
        self.output = b""

    def read_until(self, needle: bytes, timeout: float = 20.0) -> bytes:
        deadline = time.monotonic() + timeout
        while needle not in self.output and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    break
                if not data:
                    break
                self.output += data
                if b"\x1b[6n" in data:
                    # Answer busybox's cursor-position query as a terminal would: unanswered,
                    # it can take typed keys for the answer.
                    os.write(self.master, b"\x1b[1;1R")
        assert needle in self.output, self.output
        return self.output

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.killpg(self.proc.pid, signal.SIGWINCH)

    def wait(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                with contextlib.suppress(OSError):
                    self.output += os.read(self.master, 4096)
        return self.proc.wait(1)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def ptycli(daemon):
    started: list[PtyCLI] = []

    def start(*args: str, **kw) -> PtyCLI:
        cli = PtyCLI(daemon, *args, **kw)
        started.append(cli)
        return cli

    try:
        yield start
    finally:
        for cli in started:
            cli.close()


def test_it_gets_a_pty_with_the_callers_size(daemon, ptycli, names):
    cli = ptycli("run", "-it", "--rm", "--name", names.new("tty"), "busybox", "sh")
    cli.read_until(b"# ")
    cli.write(b"tty; stty size; exit 5\r")
    assert cli.wait() == 5
    assert b"/dev/pts/0\r\n33 101\r\n" in cli.output
    # raw mode was restored on exit
    assert termios.tcgetattr(cli.slave) == cli.saved


def test_sigwinch_resizes_the_container_tty(daemon, ptycli, names):
    cli = ptycli("run", "-it", "--rm", "--name", names.new("winch"), "busybox", "sh")
    cli.read_until(b"# ")
    cli.resize(40, 120)
    time.sleep(1.0)
    cli.write(b"stty size; exit\r")
    assert cli.wait() == 0
    assert b"40 120\r\n" in cli.output


def test_detach_keys_leave_the_container_running(daemon, ptycli, names):
    name = names.new("detach")
    cli = ptycli("run", "-it", "--name", name, "busybox", "sh")
    cli.read_until(b"# ")
    cli.write(b"\x10\x11")  # ctrl-p ctrl-q
    assert cli.wait() == 0
    assert daemon.berth("inspect", "-f", "{{.State.Running}}", name).stdout == b"true\n"


def test_custom_detach_keys(daemon, ptycli, names):
    name = names.new("detach2")
    cli = ptycli("run", "-it", "--detach-keys", "ctrl-a,x", "--name", name, "busybox", "sh")
    cli.read_until(b"# ")
    cli.write(b"\x01x")
    assert cli.wait() == 0
    assert daemon.berth("inspect", "-f", "{{.State.Running}}", name).stdout == b"true\n"


def test_sig_proxy_forwards_signals(daemon, names):
    name = names.new("sigproxy")
    proc = subprocess.Popen(
        [sys.executable, "-m", "berth.cli.main", "run", "--rm", "--name", name, "busybox", "sh",
         "-c", "trap 'echo got-usr1; exit 7' USR1; echo ready; while true; do sleep 0.1; done"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=daemon.env)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGUSR1)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 7
        assert out == b"got-usr1\n"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
