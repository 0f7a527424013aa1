"""`run -it` through a real pseudo-terminal: tty inside, size, resize, raw mode restored,
detach keys; and signal proxying in attached non-tty mode."""

from __future__ import annotations

import signal
import subprocess
import sys
import termios
import time

import pytest
from tests.ptyproc import PtyProcess, berth_cli_argv

pytestmark = pytest.mark.root


class PtyCLI(PtyProcess):
    """The berth CLI running on the slave side of a pty we hold the master of."""

    def __init__(self, daemon, *args: str, rows: int = 33, cols: int = 101) -> None:
        super().__init__(berth_cli_argv(*args), daemon.env, rows=rows, cols=cols)


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
