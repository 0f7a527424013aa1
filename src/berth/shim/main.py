"""The per-container shim process: ``python -m berth.shim <state-dir>``.

Lifecycle: detach from berthd (fork; the process berthd started exits at once; the real shim
runs in a new session with cwd ``/``, stdin ``/dev/null``, stderr ``<state-dir>/shim.log``),
become a child subreaper, create the container through ``berth.runtime.container`` (from a
short-lived child, berth.shim.creator, which also starts it and leaves), listen on
``shim.sock``, report ``{"ok": true, "pid": N}`` (or the error) on the original stdout, then
serve requests until the init has exited: drain its output, write ``exit.json``, delete the
container through the runtime (leftover processes, cgroup, state), answer waits, close attach
streams and exit. Execs are started from short-lived children too (berth.shim.execchild).

The shim owns the container's stdio and exit status and nothing else; it must never import
berth.daemon or berth.services, and must not use threads (the runtime forks from it).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berth.errors import BerthError, Conflict, Internal
from berth.shim import _sys, cgroupsahead, pidfile
from berth.shim.backend import Backend, BerthBackend, backend_for
from berth.shim.conn import Conn
from berth.shim.creator import PendingCreate, fork_creator
from berth.shim.execs import ExecTable
from berth.shim.exitfile import write_exit
from berth.shim.io import ContainerIO
from berth.shim.jsonlog import JsonLogWriter
from berth.shim.loop import Loop
from berth.shim.oom import oom_killed
from berth.shim.pidfile import PID_FILE
from berth.shim.process import InitProcess, reap_children
from berth.shim.protocol import (
    AttachRequest,
    ExecRequest,
    ExecResizeRequest,
    ExecStateRequest,
    KillRequest,
    PauseRequest,
    PidsRequest,
    ProcessStatus,
    Request,
    ResizeRequest,
    ResumeRequest,
    ShutdownRequest,
    StartRequest,
    StateRequest,
    UpdateRequest,
    WaitRequest,
    encode_error,
    encode_ok,
)
from berth.shim.server import SOCKET_FILE, Server
from berth.shim.spec import ShimSpec, write_atomic

if TYPE_CHECKING:
    from berth.runtime.seccomp import CacheKeys
    from berth.shim.backend import CreatedProcess

__all__ = ["INIT_PID_FILE", "LOG_FILE", "PID_FILE", "main", "run_shim"]

LOG_FILE = "shim.log"
INIT_PID_FILE = "init.pid"
_DRAIN_TIMEOUT = 2.0
_LINGER = 2.0


def _log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    print(f"{stamp} berth-shim[{os.getpid()}]: {message}", file=sys.stderr, flush=True)


class Shim:
    """Serves one container; built by :func:`run_shim` once the container is created."""

    def __init__(self, loop: Loop, spec: ShimSpec, state_dir: Path, io: ContainerIO,
                 created: CreatedProcess, backend: Backend) -> None:
        self._loop = loop
        self._spec = spec
        self._state_dir = state_dir
        self._io = io
        self._created = created
        self.init = InitProcess(created.pid)
        self._waiters: list[Conn] = []
        self._server: Server | None = None
        self._finished = False
        self._give_up = 0.0
        self.backend = backend
        self.execs = ExecTable(loop, backend, spec.id, from_child=isinstance(backend, BerthBackend))

    def listen(self, server: Server) -> None:
        """Serve on ``server``, whose dispatch calls :meth:`dispatch`."""
        self._server = server

    # -- requests -------------------------------------------------------------------------

    def dispatch(self, request: Request, conn: Conn) -> None:
        try:
            self._handle(request, conn)
        except BerthError as e:
            conn.send(encode_error(e))
            conn.close_when_flushed()
        except Exception as e:
            # A bug in one request must not take down the shim, and with it the container.
            _log(f"request {request!r} failed: {traceback.format_exc()}")
            conn.send(encode_error(Internal(f"shim: {type(e).__name__}: {e}")))
            conn.close_when_flushed()

    def _reply(self, conn: Conn, fields: dict[str, Any] | None = None) -> None:
        conn.send(encode_ok(fields))
        conn.close_when_flushed()

    def _handle(self, request: Request, conn: Conn) -> None:
        match request:
            case StartRequest():
                self.init.started()
                # On failure the init exits and is reaped like any other exit; the error
                # (e.g. exec: "x": permission denied) goes back to berthd as is.
                self._created.start()
                self._reply(conn, {"pid": self.init.pid})
            case KillRequest(signal=sig, all=all_):
                if self.init.status is ProcessStatus.STOPPED:
                    if not all_:
                        raise Conflict("container is not running")
                    # Killing "everything" of an exited container has nothing left to do:
                    # the runtime's delete kills any stragglers in the cgroup.
                    self._reply(conn)
                    return
                self.backend.kill(self._spec.id, sig, all=all_)
                self._reply(conn)
            case ResizeRequest(height=h, width=w):
                self._io.resize(h, w)
                self._reply(conn)
            case StateRequest():
                self._reply(conn, self.init.state().to_json())
            case WaitRequest():
                if self._finished and self.init.exit is not None:
                    self._reply(conn, self.init.exit.to_json())
                else:
                    self._waiters.append(conn)
                    # Reading notices a waiter that gives up, so it is not kept forever.
                    conn.on_eof = conn.close
                    conn.on_close = lambda: self._forget_waiter(conn)
                    conn.resume_reading()
            case AttachRequest(stdin=i, stdout=o, stderr=e):
                if self._finished:
                    raise Conflict("container has exited")
                conn.send(encode_ok())
                self._io.attach(conn, stdin=i, stdout=o, stderr=e)
            case ShutdownRequest():
                if self.init.status is ProcessStatus.RUNNING:
                    raise Conflict("container is running")
                self._reply(conn)
                if self.init.status is ProcessStatus.CREATED:
                    self.backend.kill(self._spec.id, signal.SIGKILL)
                    self._created.close()
            case _:
                self._handle_control(request, conn)

    def _handle_control(self, request: Request, conn: Conn) -> None:
        """Requests on a running container: exec, freezer, cgroup pids and limits."""
        if self.init.status is not ProcessStatus.RUNNING and not isinstance(
                request, (ExecStateRequest, ExecResizeRequest)):
            raise Conflict(f"container {self._spec.id} is not running")
        match request:
            case ExecRequest():
                self.execs.start(request, conn)
            case ExecStateRequest(exec_id=eid, wait=w):
                self.execs.state(eid, w, conn)
            case ExecResizeRequest(exec_id=eid, height=h, width=w):
                self.execs.resize(eid, h, w)
                self._reply(conn)
            case PauseRequest():
                self.backend.pause(self._spec.id)
                self._reply(conn)
            case ResumeRequest():
                self.backend.resume(self._spec.id)
                self._reply(conn)
            case PidsRequest():
                self._reply(conn, {"pids": self.backend.cgroup_pids(self._spec.id)})
            case UpdateRequest(resources=res):
                self.backend.update(self._spec.id, res)
                self._reply(conn)

    def _forget_waiter(self, conn: Conn) -> None:
        if conn in self._waiters:
            self._waiters.remove(conn)

    # -- exit -----------------------------------------------------------------------------

    def _oom_killed(self) -> bool:
        try:
            paths = self.backend.cgroup_paths(self._spec.id)
        except BerthError:
            return False
        return oom_killed(paths)

    def on_sigchld(self, _signum: int) -> None:
        for pid, code in reap_children():
            if self.execs.reaped(pid, code):
                continue
            if pid == self.init.pid and self.init.status is not ProcessStatus.STOPPED:
                self.init.exited(code, time.time_ns(), self._oom_killed())
                _log(f"container init {pid} exited with {code}")
                self._io.finish(self._finish, _DRAIN_TIMEOUT)

    def _finish(self) -> None:
        status = self.init.exit
        if status is None:
            raise Internal("finish before the init exited")
        try:
            write_exit(self._state_dir, status)
        except BerthError as e:
            _log(f"cannot record exit status: {e}")
        # Waiters get the status and attach streams end before the runtime's delete (cgroup
        # rmdirs, state: ~8 ms), so berthd records the exit and a client's `run` ends sooner.
        # A waiter's connection is closed only once the delete is done: berthd waits for that
        # EOF before it reuses the container's ID (a restart) or reports it removed.
        answer = encode_ok(status.to_json())
        for conn in self._waiters:
            conn.on_close = lambda: None
            conn.send(answer)
        self._io.close_attached()
        try:
            self.backend.delete(self._spec.id)
        except BerthError as e:
            _log(f"runtime delete: {e}")
        self._finished = True
        if self._server is not None:
            # New clients now find no socket and fall back to exit.json.
            self._server.close()
        for conn in self._waiters:
            conn.close_when_flushed()
        self._waiters.clear()
        self._give_up = time.monotonic() + _LINGER
        self._loop.call_soon(self._exit_when_flushed)

    def _exit_when_flushed(self) -> None:
        # Stop once attach streams and wait answers are written, or after a grace period
        # (a client that stopped reading must not keep the shim alive).
        if self._loop.writing and time.monotonic() < self._give_up:
            self._loop.call_later(0.02, self._exit_when_flushed)
        else:
            self._loop.stop()


def _report(fd: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode() + b"\n"
    try:
        os.write(fd, data)
    except OSError as e:
        _log(f"cannot report readiness: {e}")
    os.close(fd)


def _drop_cgroups_ahead(fd: int | None, made: tuple[str, ...]) -> None:
    """The container was not created: remove the cgroups made for it ahead (read them first
    if the shim failed before it asked)."""
    cgroupsahead.release(made if fd is None else cgroupsahead.collect(fd))


def run_shim(state_dir: Path, ready_fd: int, cgroups_ahead_fd: int | None = None,
             seccomp_keys: CacheKeys | None = None) -> int:
    """Be the shim of the container in ``state_dir``; report readiness on ``ready_fd``.

    ``cgroups_ahead_fd``: the pipe on which the shim factory's child says which of the
    container's cgroups it made ahead (berth.shim.cgroupsahead); read before the create.
    ``seccomp_keys``: the host's seccomp cache keys, found once by the shim factory.
    """
    made_ahead: tuple[str, ...] = ()
    pending: PendingCreate | None = None
    try:
        spec = ShimSpec.load(state_dir)
        backend = backend_for(spec.runtime, spec.runtime_root, seccomp_keys)
        if isinstance(backend, BerthBackend):
            # First: the runtime's read and check of config.json then runs beside the set-up
            # below, on the other core. (Before the pid file and the subreaper flag, ~0.5 ms:
            # nothing is orphaned before the creator exits, long after.)
            pending = fork_creator(backend, spec.id, spec.bundle, spec.rootfs_mounts)
        pidfile.write(state_dir)
        _sys.set_child_subreaper()
        loop = Loop()
        shim_ref: list[Shim] = []
        # SIGCHLD is handled from the start so an init that dies at once is still reaped.
        loop.handle_signals([signal.SIGCHLD],
                            lambda n: shim_ref[0].on_sigchld(n) if shim_ref else None)
        for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_IGN)
        log = (JsonLogWriter(spec.log_path, spec.log_max_size, spec.log_max_file)
               if spec.log_path else None)
        io = ContainerIO(loop, tty=spec.tty, open_stdin=spec.open_stdin,
                         stdin_once=spec.stdin_once, log=log)
        stdin, stdout, stderr = io.runtime_stdio()
        created: CreatedProcess
        server: Server | None = None
        try:
            if cgroups_ahead_fd is not None:
                fd, cgroups_ahead_fd = cgroups_ahead_fd, None
                made_ahead = cgroupsahead.collect(fd)
            if pending is not None:
                # In a child that exits once the container runs: what the runtime dirties
                # while creating and starting it is then not kept by this long-lived process.
                pending.send(stdin, stdout, stderr, spec.tty)
            # Bound while the creator works, not after (~0.5 ms): nothing is served before the
            # loop runs, after the readiness report.
            server = Server(loop, state_dir / SOCKET_FILE,
                            lambda request, conn: shim_ref[0].dispatch(request, conn))
            if pending is not None:
                created = pending.wait()
            else:
                created = backend.create(spec.id, spec.bundle, spec.rootfs_mounts, stdin,
                                         stdout, stderr, spec.tty)
        except BaseException:
            if server is not None:
                server.close()
            io.close()
            raise
        io.created(created.console_fd)
        shim = Shim(loop, spec, state_dir, io, created, backend)
        shim_ref.append(shim)
        shim.listen(server)
    except BerthError as e:
        _log(f"start failed: {e}")
        if pending is not None:
            pending.close()
        _drop_cgroups_ahead(cgroups_ahead_fd, made_ahead)
        _report(ready_fd, {"ok": False, "error": e.message})
        return 1
    except Exception as e:
        # berthd must get a message, not a silent EOF.
        _log(f"start failed: {traceback.format_exc()}")
        if pending is not None:
            pending.close()
        _drop_cgroups_ahead(cgroups_ahead_fd, made_ahead)
        _report(ready_fd, {"ok": False, "error": f"shim: {type(e).__name__}: {e}"})
        return 1
    _report(ready_fd, {"ok": True, "pid": created.pid})
    # After the report: berthd's answer to it runs meanwhile, and no request is served before
    # the loop runs (init.pid is read only when berthd has no record of the init: an
    # unrecorded container's shim found without its pid file, berth.services.shimreach).
    try:
        write_atomic(state_dir / INIT_PID_FILE, f"{created.pid}\n".encode(), 0o644)
    except BerthError as e:
        _log(f"{e}")
    _log(f"container {spec.id} created, init pid {created.pid}")
    _sys.release_free_memory()
    loop.call_soon(lambda: shim.on_sigchld(signal.SIGCHLD))
    loop.run()
    io.close()
    (state_dir / PID_FILE).unlink(missing_ok=True)
    _log("exiting")
    return 0


def _detach(state_dir: Path) -> int:
    """Fork away from berthd; returns the fd of the readiness pipe in the real shim."""
    if os.fork() != 0:
        # The process berthd started exits at once, so it is reaped and the shim reparented.
        os._exit(0)
    os.setsid()
    os.chdir("/")
    ready_fd = os.dup(1)  # non-inheritable: the container never holds the readiness pipe
    devnull = os.open("/dev/null", os.O_RDWR)
    log = os.open(state_dir / LOG_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    return ready_fd


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m berth.shim <state-dir>", file=sys.stderr)
        return 2
    state_dir = Path(args[0]).absolute()
    ready_fd = _detach(state_dir)
    return run_shim(state_dir, ready_fd)
