"""Exec'd processes held by the shim: their stdio, exit status and waiters.

The shim is the subreaper of every exec'd process (``berth.runtime.exec`` double-forks), so
it owns their stdio like the init's (a :class:`~berth.shim.io.ContainerIO` without a log) and
records their exit codes until the shim exits. Must not speak the request protocol beyond
answering on connections it is handed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from berth.errors import AlreadyExists, NotFound
from berth.shim.backend import Backend
from berth.shim.conn import Conn
from berth.shim.execchild import exec_in_child
from berth.shim.io import ContainerIO
from berth.shim.loop import Loop
from berth.shim.protocol import ExecRequest, encode_ok

__all__ = ["ExecTable"]

_DRAIN_TIMEOUT = 2.0
# Finished execs kept for exec_state; health probes exec every interval for the container's
# whole life, so older records are dropped rather than kept forever.
_KEEP_FINISHED = 64


def _direct(backend: Backend, id: str, args: Sequence[str], env: Sequence[str], cwd: str,
            user: str, privileged: bool, tty: bool, stdin: int | None, stdout: int | None,
            stderr: int | None) -> tuple[int, int | None]:
    return backend.exec(id, args, env, cwd, user, privileged, tty, stdin, stdout, stderr)


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

    def __init__(self, loop: Loop, backend: Backend, container_id: str,
                 from_child: bool = False) -> None:
        self._loop = loop
        self._backend = backend
        # berth.shim.execchild: the runtime's exec path runs in a child that leaves, so what it
        # dirties is not kept by the shim (only for a backend that keeps no state in-process).
        self._exec = exec_in_child if from_child else _direct
        self._id = container_id
        self._execs: dict[str, _Exec] = {}
        self._by_pid: dict[int, str] = {}

    def start(self, req: ExecRequest, conn: Conn) -> None:
        """Start the process and answer on ``conn`` (which then carries its stream, if attached)."""
        if req.exec_id in self._execs:
            raise AlreadyExists(f"exec {req.exec_id} was already started")
        io = ContainerIO(self._loop, tty=req.tty, open_stdin=req.stdin, stdin_once=True, log=None)
        stdin, stdout, stderr = io.runtime_stdio()
        try:
            pid, console_fd = self._exec(self._backend, self._id, req.args, req.env, req.cwd,
                                         req.user, req.privileged, req.tty, stdin, stdout, stderr)
        except BaseException:
            io.close()
            raise
        io.created(console_fd)
        ex = _Exec(pid, io)
        self._execs[req.exec_id] = ex
        self._by_pid[pid] = req.exec_id
        conn.send(encode_ok({"pid": pid}))
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
        finished = [eid for eid, e in self._execs.items() if e.finished]
        for eid in finished[:-_KEEP_FINISHED]:
            del self._execs[eid]

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
