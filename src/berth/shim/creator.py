"""Create and start the container from a short-lived child of the shim.

Everything the runtime does in its caller to create and start a container (parse the bundle's
config.json, plan, cgroups, seccomp, state file, the handshake with the init) writes to pages
the shim shares copy-on-write with the shim factory; done in the shim, they stay private to it
for the container's whole life (~1 MB a shim, bench/README.md). Here a child of the shim does
that work and exits once the container is started, taking those pages with it.

The child (the "creator") calls the backend's ``create`` and sends the init's pid (and the
console fd in tty mode) back over a socket pair; on ``start`` it starts the container, answers
and exits. The init, whose parent the runtime made the creator, is then reparented to the
shim, a child subreaper, which reaps it as before (an init that has already exited too: the
kernel hands the shim the zombie; the creator also leaves when the init dies before
``start``, so that it does). Errors travel as the shim protocol's error replies, so the
caller sees the same berth.errors class the backend raised. If the shim goes away (EOF) before
``start``, the creator exits and the init, its handshake gone, exits too.

For berth's runtime the shim forks the creator first thing (:func:`fork_creator`): it reads and
checks config.json (``BerthBackend.prepare``, ~2.5 ms) while the shim sets up its loop, log
and stdio, then gets those fds with a ``create`` line and goes on as above.

Must not be used with a backend that keeps state in the process between create and the
container's other operations (runc's backend remembers the bundle).
"""

from __future__ import annotations

import os
import select
import signal
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from berth.errors import BerthError, Internal, RuntimeFailure
from berth.mount import Mount
from berth.shim import protocol
from berth.shim.backend import BerthBackend, CreatedProcess, PreparedCreate

__all__ = ["ForkedCreated", "PendingCreate", "decode_answer", "fork_child", "fork_creator", "read_answer",
           "reset_signals", "send_error"]

_START: Final = b"start\n"
_CREATE: Final = b"create "  # then 1/0 for stdin, stdout, stderr given, console; the fds ride along
_LINE_LIMIT: Final = 65536


def read_answer(sock: socket.socket, max_fds: int = 1) -> tuple[bytes, list[int]]:
    """One line from a child of the shim, and the fds that came with it (b"" at EOF)."""
    data = b""
    fds: list[int] = []
    while not data.endswith(b"\n") and len(data) < _LINE_LIMIT:
        chunk, got, _, _ = socket.recv_fds(sock, 4096, max_fds)
        fds += got
        if not chunk:
            break
        data += chunk
    return data, fds


def decode_answer(line: bytes, what: str) -> dict[str, object]:
    """The child's answer; its error raised as the class the child's backend raised."""
    if not line:
        raise RuntimeFailure(f"the shim's {what} process exited without an answer")
    return protocol.decode_response(line)


class ForkedCreated:
    """A container created by the creator process; :meth:`start` has it start the container."""

    def __init__(self, pid: int, console_fd: int | None, sock: socket.socket) -> None:
        self.pid = pid
        self.console_fd = console_fd
        self._sock: socket.socket | None = sock

    def start(self) -> None:
        sock = self._sock
        if sock is None:
            raise RuntimeFailure("container was already started")
        self._sock = None
        try:
            sock.sendall(_START)
            line, fds = read_answer(sock)
        except OSError as exc:
            raise RuntimeFailure(f"start container: {exc}") from exc
        finally:
            sock.close()
        for fd in fds:
            os.close(fd)
        decode_answer(line, "create")

    def close(self) -> None:
        """Give up without starting: the creator exits, and the waiting init with it."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def reset_signals() -> None:
    """In a child of the shim: the shim's signal plumbing (wakeup fd, SIGCHLD handler) belongs
    to the shim's loop."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)


def send_error(sock: socket.socket, exc: Exception) -> None:
    """In a child of the shim: answer ``exc`` as the shim protocol's error, keeping a
    berth.errors class and wrapping anything else as Internal."""
    err = exc if isinstance(exc, BerthError) else Internal(f"shim: {type(exc).__name__}: {exc}")
    sock.sendall(protocol.encode_error(err))


def _serve_created(sock: socket.socket, create: Callable[[], CreatedProcess]) -> None:
    """In the creator: ``create()``, answer the pid, then start on the shim's ``start``."""
    try:
        created = create()
    except Exception as exc:
        send_error(sock, exc)
        return
    fds = [created.console_fd] if created.console_fd is not None else []
    socket.send_fds(sock, [protocol.encode_ok({"pid": created.pid})], fds)
    if created.console_fd is not None:
        os.close(created.console_fd)
    # Wait for ``start``, or for the init to die first (killed before start): then leave, so
    # the shim, its new parent, reaps it.
    pidfd = os.pidfd_open(created.pid)
    try:
        ready, _, _ = select.select([sock.fileno(), pidfd], [], [])
    finally:
        os.close(pidfd)
    if sock.fileno() not in ready:
        return
    line, _ = read_answer(sock)
    if line != _START:
        return  # the shim gave up: leaving drops the init's handshake, so it exits
    try:
        created.start()
    except BerthError as exc:
        sock.sendall(protocol.encode_error(exc))
        return
    sock.sendall(protocol.encode_ok())


def _creator(sock: socket.socket, backend: BerthBackend, id: str, bundle: Path,
                   rootfs_mounts: Sequence[Mount]) -> None:
    reset_signals()
    prepared: PreparedCreate | None = None
    failure: BaseException | None = None
    try:
        prepared = backend.prepare(id, bundle, rootfs_mounts)
    except Exception as exc:  # answered when the shim asks for the create, as create's would be
        failure = exc
    line, fds = read_answer(sock, 3)
    flags = line[len(_CREATE):-1]
    if not line.startswith(_CREATE) or len(flags) != 4 or flags[:3].count(b"1") != len(fds):
        for fd in fds:
            os.close(fd)
        return  # the shim gave up (EOF) before the create
    given = iter(fds)
    stdin, stdout, stderr = (next(given) if flag == ord("1") else None for flag in flags[:3])
    console = flags[3:] == b"1"

    def create() -> CreatedProcess:
        if prepared is None:
            assert failure is not None
            raise failure
        return prepared.create(stdin, stdout, stderr, console)

    _serve_created(sock, create)


def _await_created(ours: socket.socket) -> ForkedCreated:
    try:
        line, fds = read_answer(ours)
        body = decode_answer(line, "create")
        pid_value = body.get("pid")
        if not isinstance(pid_value, int):
            raise Internal(f"shim creator: bad answer {line[:200]!r}")
    except BaseException:
        ours.close()
        raise
    return ForkedCreated(pid_value, fds[0] if fds else None, ours)


class PendingCreate:
    """A creator forked before the shim has the container's stdio (:func:`fork_creator`)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock: socket.socket | None = sock
        self._sent = False

    def send(self, stdin: int | None, stdout: int | None, stderr: int | None,
             console: bool) -> None:
        """Hand the creator the stdio: it creates the container meanwhile (:meth:`wait`)."""
        sock = self._sock
        if sock is None or self._sent:
            raise RuntimeFailure("container was already created")
        stdio = (stdin, stdout, stderr)
        flags = bytes(ord("0") if fd is None else ord("1") for fd in stdio) + (b"1" if console else b"0")
        try:
            socket.send_fds(sock, [_CREATE + flags + b"\n"], [fd for fd in stdio if fd is not None])
        except OSError as exc:
            self.close()
            raise RuntimeFailure(f"shim creator: {exc}") from exc
        self._sent = True

    def wait(self) -> ForkedCreated:
        """Returns once the creator has created the container (after :meth:`send`)."""
        sock = self._sock
        if sock is None or not self._sent:
            raise RuntimeFailure("the creator was given no stdio")
        self._sock = None
        return _await_created(sock)

    def create(self, stdin: int | None, stdout: int | None, stderr: int | None,
               console: bool) -> ForkedCreated:
        """Hand the creator the stdio; returns once the container is created."""
        self.send(stdin, stdout, stderr, console)
        return self.wait()

    def close(self) -> None:
        """Give up before the create: the creator exits."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def fork_child(run: Callable[[socket.socket], None]) -> socket.socket:
    """Fork a child of the shim that runs ``run`` on its end of a socket pair and exits;
    returns the shim's end."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        pid = os.fork()
    except OSError:
        ours.close()
        theirs.close()
        raise
    if pid == 0:
        code = 1
        try:
            ours.close()
            run(theirs)
            code = 0
        finally:
            os._exit(code)
    theirs.close()
    return ours


def fork_creator(backend: BerthBackend, id: str, bundle: Path,
                 rootfs_mounts: Sequence[Mount]) -> PendingCreate:
    """Fork the creator now: it reads and checks the bundle while the shim sets up its stdio,
    log and loop, then waits for :meth:`PendingCreate.create`."""
    return PendingCreate(fork_child(lambda sock: _creator(sock, backend, id, bundle, rootfs_mounts)))
