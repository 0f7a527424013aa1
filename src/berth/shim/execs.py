"""Exec'd processes held by the shim: their stdio, exit status and waiters.

The shim is the subreaper of every exec'd process (``berth.runtime.exec`` double-forks), so
it owns their stdio like the init's (a :class:`~berth.shim.io.ContainerIO` without a log) and
records their exit codes until the shim exits. Must not speak the request protocol beyond
answering on connections it is handed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.errors import AlreadyExists, NotFound
from berth.shim.conn import Conn
from berth.shim.io import ContainerIO
from berth.shim.loop import Loop
from berth.shim.protocol import ExecRequest, encode_ok

__all__ = ["ExecTable"]

_DRAIN_TIMEOUT = 2.0


@dataclass
class _Exec:
    pid: int
    io: ContainerIO
    exit_code: int | None = None
    finished: bool = False
    waiters: list[Conn] = field(default_factory=list)

    def state(self) -> dict[str, Any]:
        return {"pid": self.pid, "running": not self.finished, "exit_code": self.exit_code}


class ExecTable:
    """Every exec started in this container, by exec ID."""

    def __init__(self, loop: Loop, runtime_root: Path, container_id: str) -> None:
        self._loop = loop
        self._root = runtime_root
        self._id = container_id
        self._execs: dict[str, _Exec] = {}
        self._by_pid: dict[int, str] = {}

    def start(self, req: ExecRequest, conn: Conn) -> None:
        """Start the process and answer on ``conn`` (which then carries its stream, if attached)."""
        from berth.runtime.exec import ExecOptions, exec_process

        if req.exec_id in self._execs:
            raise AlreadyExists(f"exec {req.exec_id} was already started")
        io = ContainerIO(self._loop, tty=req.tty, open_stdin=req.stdin, stdin_once=True, log=None)
        stdin, stdout, stderr = io.runtime_stdio()
        try:
            started = exec_process(self._root, self._id, ExecOptions(
                args=req.args, env=req.env, cwd=req.cwd, user=req.user,
                privileged=req.privileged, tty=req.tty, stdin=stdin, stdout=stdout,
                stderr=stderr))
        except BaseException:
            io.close()
            raise
        io.created(started.console_fd)
        ex = _Exec(started.pid, io)
        self._execs[req.exec_id] = ex
        self._by_pid[started.pid] = req.exec_id
        conn.send(encode_ok({"pid": started.pid}))
        if req.attach:
            io.attach(conn, stdin=req.stdin, stdout=True, stderr=True)
        else:
            conn.close_when_flushed()

    def reaped(self, pid: int, code: int) -> bool:
        """Record an exited child; False if it is not one of ours."""
        exec_id = self._by_pid.pop(pid, None)
        if exec_id is None:
            return False
        ex = self._execs[exec_id]
        ex.exit_code = code
        ex.io.finish(lambda: self._finished(ex), _DRAIN_TIMEOUT)
        return True

    def _finished(self, ex: _Exec) -> None:
        ex.finished = True
        ex.io.close_attached()
        ex.io.close()
        for conn in ex.waiters:
            conn.on_close = lambda: None
            conn.send(encode_ok(ex.state()))
            conn.close_when_flushed()
        ex.waiters.clear()

    def _get(self, exec_id: str) -> _Exec:
        ex = self._execs.get(exec_id)
        if ex is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return ex

    def state(self, exec_id: str, wait: bool, conn: Conn) -> None:
        ex = self._get(exec_id)
        if not wait or ex.finished:
            conn.send(encode_ok(ex.state()))
            conn.close_when_flushed()
            return
        ex.waiters.append(conn)
        conn.on_eof = conn.close
        conn.on_close = lambda: ex.waiters.remove(conn) if conn in ex.waiters else None
        conn.resume_reading()

    def resize(self, exec_id: str, height: int, width: int) -> None:
        self._get(exec_id).io.resize(height, width)
