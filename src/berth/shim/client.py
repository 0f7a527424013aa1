"""berthd's side of the shim: spawn a shim, then talk to it over ``<state-dir>/shim.sock``.

Owns the client half of the protocol in berth.shim.protocol (one connection per request) and
the spawning handshake. Errors come back as the berth.errors class the shim raised; a shim
that cannot be reached raises Unavailable (then :func:`read_exit` tells whether the container
exited while berthd was away). Must not keep state beyond the state dir path: a new
ShimClient for the same dir is as good as the old one, which is what live restore relies on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

from berth.errors import Internal, RuntimeFailure, Unavailable
from berth.shim import pidfile
from berth.shim.exitfile import read_exit
from berth.shim.main import LOG_FILE
from berth.shim.protocol import (
    AttachRequest,
    ExecRequest,
    ExecResizeRequest,
    ExecStateRequest,
    ExitStatus,
    KillRequest,
    PauseRequest,
    PidsRequest,
    Request,
    ResizeRequest,
    ResumeRequest,
    ShimState,
    ShutdownRequest,
    StartRequest,
    StateRequest,
    UpdateRequest,
    WaitRequest,
    decode_response,
    encode_request,
)
from berth.shim.server import SOCKET_FILE, socket_address
from berth.shim.spec import ShimSpec

__all__ = ["ShimClient", "read_exit", "spawn"]

_LINE_LIMIT = 1 << 20


async def _until_closed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        with contextlib.suppress(OSError):
            await reader.read()
    finally:
        writer.close()


class ShimClient:
    """Handle on the shim serving one container (identified by its state dir)."""

    def __init__(self, state_dir: Path, pid: int | None = None) -> None:
        self.state_dir = state_dir
        self.socket_path = state_dir / SOCKET_FILE
        self.pid = pid
        """The container init's host PID, when known."""

    @classmethod
    async def connect(cls, state_dir: Path) -> ShimClient:
        """A client for a running shim; Unavailable if none answers (e.g. it has exited)."""
        client = cls(state_dir)
        state = await client.state()
        client.pid = state.pid
        return client

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            with socket_address(self.socket_path) as address:
                return await asyncio.open_unix_connection(address, limit=_LINE_LIMIT)
        except (FileNotFoundError, ConnectionRefusedError) as e:
            raise Unavailable(f"shim for {self.state_dir.name} is not running") from e
        except OSError as e:
            raise Unavailable(f"connect to shim {self.socket_path}: {e}") from e

    async def _request(self, request: Request) -> tuple[dict[str, object], asyncio.StreamReader,
                                                        asyncio.StreamWriter]:
        reader, writer = await self._open()
        try:
            writer.write(encode_request(request))
            await writer.drain()
            line = await reader.readline()
        except (ConnectionError, asyncio.IncompleteReadError) as e:
            writer.close()
            raise Unavailable(f"shim for {self.state_dir.name} went away") from e
        except BaseException:
            writer.close()
            raise
        if not line.endswith(b"\n"):
            writer.close()
            raise Unavailable(f"shim for {self.state_dir.name} closed the connection")
        try:
            return decode_response(line), reader, writer
        except BaseException:
            writer.close()
            raise

    async def _call(self, request: Request) -> dict[str, object]:
        body, _reader, writer = await self._request(request)
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        return body

    async def start(self) -> int:
        """Let the container's process exec; returns the init's host PID."""
        body = await self._call(StartRequest())
        pid = body.get("pid")
        if not isinstance(pid, int):
            raise Internal(f"shim start answered without a pid: {body}")
        return pid

    async def kill(self, sig: int, all: bool = False) -> None:
        await self._call(KillRequest(sig, all))

    async def resize(self, height: int, width: int) -> None:
        await self._call(ResizeRequest(height, width))

    async def state(self) -> ShimState:
        return ShimState.from_json(await self._call(StateRequest()))

    async def wait(self) -> ExitStatus:
        """Block until the container has exited and its output is drained."""
        status, conn = await self._wait()
        if conn is not None:
            conn[1].close()
            with contextlib.suppress(ConnectionError):
                await conn[1].wait_closed()
        return status

    async def exited(self) -> tuple[ExitStatus, asyncio.Future[None]]:
        """The exit status as soon as the shim has it, and a future done once the runtime has
        deleted the container (the shim closes the wait connection then, or is gone).

        The container's ID (its runtime state, its cgroups) is reusable only after the
        future: a restart or a removal waits for it, recording the exit does not.
        """
        status, conn = await self._wait()
        if conn is None:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return status, done
        return status, asyncio.ensure_future(_until_closed(*conn))

    async def _wait(self) -> tuple[ExitStatus, tuple[asyncio.StreamReader, asyncio.StreamWriter] | None]:
        try:
            body, reader, writer = await self._request(WaitRequest())
        except Unavailable:
            # The shim exited between our calls: it recorded the status before leaving.
            status = read_exit(self.state_dir)
            if status is None:
                raise
            return status, None
        try:
            return ExitStatus.from_json(body), (reader, writer)
        except BaseException:
            writer.close()
            raise

    async def attach(self, stdin: bool, stdout: bool, stderr: bool,
                     ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A raw stream: output frames (or pty bytes) to read, stdin bytes to write.

        Closing the writer's write side (``write_eof``) closes the container's stdin when the
        container was created with ``stdin_once``.
        """
        _body, reader, writer = await self._request(AttachRequest(stdin, stdout, stderr))
        return reader, writer

    async def shutdown(self) -> None:
        await self._call(ShutdownRequest())

    async def exec(self, request: ExecRequest,
                   ) -> tuple[int, asyncio.StreamReader | None, asyncio.StreamWriter | None]:
        """Start an exec; returns its host PID and, when ``request.attach``, its stream."""
        body, reader, writer = await self._request(request)
        pid = body.get("pid")
        if not isinstance(pid, int):
            writer.close()
            raise Internal(f"shim exec answered without a pid: {body}")
        if not request.attach:
            writer.close()
            return pid, None, None
        return pid, reader, writer

    async def exec_state(self, exec_id: str, wait: bool = False) -> dict[str, object]:
        """``{"pid", "running", "exit_code"}``; with ``wait`` once the process has exited."""
        return await self._call(ExecStateRequest(exec_id, wait))

    async def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        await self._call(ExecResizeRequest(exec_id, height, width))

    async def pause(self) -> None:
        await self._call(PauseRequest())

    async def resume(self) -> None:
        await self._call(ResumeRequest())

    async def pids(self) -> list[int]:
        body = await self._call(PidsRequest())
        pids = body.get("pids")
        if not isinstance(pids, list):
            raise Internal(f"shim pids answered {body}")
        return [int(p) for p in pids]

    async def update(self, resources: dict[str, object]) -> None:
        await self._call(UpdateRequest(dict(resources)))


def _log_tail(state_dir: Path, limit: int = 4000) -> str:
    try:
        return (state_dir / LOG_FILE).read_text(errors="replace")[-limit:].strip()
    except OSError:
        return ""


def _kill_stray_shim(state_dir: Path) -> None:
    """Stop a shim we spawned that never reported ready (its pid file names it)."""
    shim = pidfile.read(state_dir)
    if shim is None or not shim.alive():
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(shim.pid, signal.SIGKILL)


async def spawn(state_dir: Path, spec: ShimSpec, *, timeout: float = 30.0,
                python: str = sys.executable, factory: Path | None = None,
                cgroups_path: str | None = None) -> ShimClient:
    """Write shim.json, start a detached shim and wait until the container is created.

    With ``factory`` (the socket of a running berth.shim.factory) the shim is forked from that
    pre-initialised process; if it does not answer, a fresh interpreter is started instead.
    ``cgroups_path``: the bundle's ``linux.cgroupsPath``, told to the factory so that the
    cgroups it makes ahead need no read of shim.json and config.json (berth's runtime only).
    Raises RuntimeFailure with the runtime's message if the container cannot be created.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    spec.write(state_dir)
    if factory is not None:
        try:
            reader, writer = await asyncio.open_unix_connection(str(factory), limit=_LINE_LIMIT)
        except OSError:
            pass
        else:
            try:
                request: dict[str, object] = {"state_dir": str(state_dir)}
                if cgroups_path is not None and spec.runtime in ("", "berth"):
                    request["cgroups"] = {"path": cgroups_path, "id": spec.id}
                writer.write(json.dumps(request).encode() + b"\n")
                await writer.drain()
                line = await asyncio.wait_for(reader.readline(), timeout)
            except TimeoutError as e:
                _kill_stray_shim(state_dir)
                raise RuntimeFailure(f"shim did not report ready within {timeout:g}s: "
                                     f"{_log_tail(state_dir)}") from e
            finally:
                writer.close()
            return _ready(state_dir, line)
    # Our own pipe rather than stdout=PIPE: the container's init (forked from the shim) holds
    # a copy of the write end until it execs, so waiting for EOF would wait for start.
    ready_r, ready_w = os.pipe()
    try:
        with open(state_dir / LOG_FILE, "ab") as log:
            proc = await asyncio.create_subprocess_exec(
                python, "-m", "berth.shim", str(state_dir), stdin=asyncio.subprocess.DEVNULL,
                stdout=ready_w, stderr=log, start_new_session=True)
    except BaseException:
        os.close(ready_r)
        raise
    finally:
        os.close(ready_w)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                                open(ready_r, "rb", buffering=0))  # noqa: SIM115 -- the transport owns and closes it
    try:
        line = await asyncio.wait_for(reader.readline(), timeout)
    except TimeoutError as e:
        _kill_stray_shim(state_dir)
        raise RuntimeFailure(f"shim did not report ready within {timeout:g}s: "
                             f"{_log_tail(state_dir)}") from e
    finally:
        transport.close()
        # The process we started only forks the real shim and exits at once; reap it.
        await proc.wait()
    return _ready(state_dir, line)


def _ready(state_dir: Path, line: bytes) -> ShimClient:
    """The client for a shim whose readiness line is ``line`` (or the failure it reports)."""
    if not line:
        raise RuntimeFailure(f"shim exited without reporting: {_log_tail(state_dir)}")
    try:
        body = json.loads(line)
    except ValueError as e:
        raise RuntimeFailure(f"shim reported garbage {line[:200]!r}") from e
    if body.get("ok") is not True:
        raise RuntimeFailure(str(body.get("error", "shim failed")))
    return ShimClient(state_dir, int(body["pid"]))
