"""The real docker CLI on the slave side of a pseudo-terminal (for -it, attach, detach keys)."""

from __future__ import annotations

from tests.conftest import Daemon
from tests.ptyproc import PtyProcess


class PtyDocker(PtyProcess):
    def __init__(self, daemon: Daemon, *args: str, rows: int = 30, cols: int = 90) -> None:
        super().__init__(["docker", *args], daemon.env, rows=rows, cols=cols)
