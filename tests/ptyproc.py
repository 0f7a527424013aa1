"""A client program (the docker CLI or berth's) on the slave side of a pty whose master we hold:
for -it, attach, exec -t, resize and detach keys, as a user's terminal would drive them."""

from __future__ import annotations

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
from typing import Any


class PtyProcess:
    def __init__(self, argv: list[str], env: dict[str, str], *, rows: int, cols: int) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.saved: list[Any] = termios.tcgetattr(slave)
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        self.slave = slave
        self.output = b""

    def _read_some(self, timeout: float) -> bool:
        """Append what the pty has within ``timeout``; False when nothing more can come now."""
        if not select.select([self.master], [], [], timeout)[0]:
            return True
        try:
            data = os.read(self.master, 4096)
        except OSError:
            return False
        if not data:
            return False
        self.output += data
        if b"\x1b[6n" in data:
            # Answer busybox's cursor-position query as a terminal would: unanswered,
            # it can take typed keys for the answer.
            os.write(self.master, b"\x1b[1;1R")
        return True

    def read_until(self, needle: bytes, timeout: float = 20.0) -> bytes:
        deadline = time.monotonic() + timeout
        while needle not in self.output and time.monotonic() < deadline:
            if not self._read_some(0.2):
                break
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
            self._read_some(0.2)
        code = self.proc.wait(1)
        # What the process wrote just before exiting may still sit in the pty: read it too
        # (the slave stays open here, so there is no EOF to wait for).
        while select.select([self.master], [], [], 0.1)[0] and self._read_some(0):
            pass
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


def berth_cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "berth.cli.main", *args]
