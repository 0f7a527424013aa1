"""console=True: the pty comes from the container's devpts and its master reaches the caller."""

from __future__ import annotations

import os
import select
import termios

import pytest

from berth.runtime import container

from .conftest import Env, wait_exit

pytestmark = pytest.mark.root


def _read_all(fd: int, timeout: float = 10) -> bytes:
    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the slave side closed
            break
        if not chunk:
            break
        out += chunk
    return out


def test_console_pty(rt: Env) -> None:
    script = ("test -t 0 && test -t 1 && test -t 2 && echo tty-yes; tty; "
              "read line; echo got:$line; ls -1 /dev/pts")
    bundle, mounts, _ = rt.bundle(["sh", "-c", script])
    created = container.create(rt.options(bundle, mounts, console=True))
    assert created.console_fd is not None
    try:
        # No echo: typed early, the line would otherwise be echoed between the script's own
        # lines (it raced: "tty-yes\ntyped\n/dev/pts/0").
        attrs = termios.tcgetattr(created.console_fd)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(created.console_fd, termios.TCSANOW, attrs)
        created.start()
        os.write(created.console_fd, b"typed\n")
        out = _read_all(created.console_fd)
        assert wait_exit(created.pid) == 0
    finally:
        os.close(created.console_fd)
        container.delete(rt.state_root, created.id)
    text = out.decode().replace("\r\n", "\n")
    assert "tty-yes\n/dev/pts/0\n" in text
    assert "got:typed" in text
    # A private devpts instance: only the container's own pty is there.
    assert text.rstrip().endswith("0\nptmx")
