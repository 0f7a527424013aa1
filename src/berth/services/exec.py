"""Exec use-cases: create an exec instance, start it (attached or detached), resize, inspect.

An exec instance is daemon memory only (as in moby: exec instances do not survive a daemon
restart); the process itself is started and reaped by the container's shim. Containers must
be running and not paused, else Conflict. Knows nothing of HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from berth import errors, ids
from berth.services.containers import ContainerService
from berth.shim.protocol import ExecRequest

__all__ = ["ExecConfig", "ExecInstance", "ExecService", "ExecStream"]


@dataclass(frozen=True)
class ExecConfig:
    """The validated ``POST /containers/{id}/exec`` body."""

    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    privileged: bool = False
    tty: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    detach_keys: str = ""

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> ExecConfig:
        cmd = body.get("Cmd")
        if isinstance(cmd, str):
            cmd = [cmd]
        if not isinstance(cmd, list) or not cmd or not all(isinstance(a, str) for a in cmd):
            raise errors.InvalidArgument("No exec command specified")
        env = body.get("Env") or []
        if not isinstance(env, list) or not all(isinstance(e, str) for e in env):
            raise errors.InvalidArgument("Env must be a list of strings")
        for key in ("WorkingDir", "User", "DetachKeys"):
            if not isinstance(body.get(key) or "", str):
                raise errors.InvalidArgument(f"{key} must be a string")
        wd = str(body.get("WorkingDir") or "")
        if wd and not wd.startswith("/"):
            raise errors.InvalidArgument(f"the working directory '{wd}' is invalid, it needs "
                                         "to be an absolute path")
        return cls(args=tuple(cmd), env=tuple(env), working_dir=wd, user=str(body.get("User") or ""),
                   privileged=bool(body.get("Privileged")), tty=bool(body.get("Tty")),
                   attach_stdin=bool(body.get("AttachStdin")),
                   attach_stdout=bool(body.get("AttachStdout")),
                   attach_stderr=bool(body.get("AttachStderr")),
                   detach_keys=str(body.get("DetachKeys") or ""))


@dataclass
class ExecInstance:
    id: str
    container_id: str
    config: ExecConfig
    running: bool = False
    started: bool = False
    pid: int = 0
    exit_code: int | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the start attempt is over (pid known, or failed)."""

    def inspect(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "ID": self.id, "ContainerID": self.container_id, "Running": self.running,
            "ExitCode": self.exit_code, "Pid": self.pid, "CanRemove": False,
            "DetachKeys": cfg.detach_keys, "OpenStdin": cfg.attach_stdin,
            "OpenStdout": cfg.attach_stdout, "OpenStderr": cfg.attach_stderr,
            "ProcessConfig": {"tty": cfg.tty, "entrypoint": cfg.args[0],
                              "arguments": list(cfg.args[1:]), "privileged": cfg.privileged,
                              "user": cfg.user},
        }


@dataclass
class ExecStream:
    """An attached exec: its output (framed unless tty) and its stdin."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


class ExecService:
    def __init__(self, containers: ContainerService) -> None:
        self._containers = containers
        self._execs: dict[str, ExecInstance] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def create(self, ref: str, body: dict[str, Any]) -> ExecInstance:
        cfg = ExecConfig.from_body(body)
        c = self._containers.get(ref)
        self._containers.running_shim(c)  # 409 now, as Docker, if not running or paused
        self._forget_finished()
        inst = ExecInstance(id=ids.generate_id(), container_id=c.id, config=cfg)
        self._execs[inst.id] = inst
        self._containers.emit_exec_event(c, "exec_create: " + " ".join(cfg.args), inst.id)
        return inst

    def get(self, exec_id: str) -> ExecInstance:
        inst = self._execs.get(exec_id)
        if inst is None:
            raise errors.NotFound(f"No such exec instance: {exec_id}")
        return inst

    def check_startable(self, exec_id: str) -> None:
        """Raise what :meth:`start` would raise before reaching the shim."""
        inst = self.get(exec_id)
        if inst.started:
            raise errors.Conflict(f"Error: Exec command {exec_id} has already run")
        self._containers.running_shim(self._containers.get(inst.container_id))

    async def start(self, exec_id: str, detach: bool) -> ExecStream | None:
        """Start the process; attached unless ``detach`` (then None is returned)."""
        self.check_startable(exec_id)
        inst = self.get(exec_id)
        c = self._containers.get(inst.container_id)
        shim = self._containers.running_shim(c)
        cfg = inst.config
        inst.started = True
        attach = not detach
        try:
            pid, reader, writer = await shim.exec(ExecRequest(
                exec_id=inst.id, args=cfg.args, env=cfg.env, cwd=cfg.working_dir,
                user=cfg.user, privileged=cfg.privileged, tty=cfg.tty,
                stdin=cfg.attach_stdin and attach, attach=attach))
        except errors.BerthError:
            # moby: an exec that cannot start exits 126, whatever the cause (a missing command
            # too; only `docker run` reports that one as 127).
            inst.ready.set()
            inst.exit_code = 126
            inst.done.set()
            raise
        inst.pid, inst.running = pid, True
        inst.ready.set()
        self._containers.emit_exec_event(c, "exec_start: " + " ".join(cfg.args), inst.id)
        task = asyncio.get_running_loop().create_task(self._watch(inst))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if reader is None or writer is None:
            return None
        return ExecStream(reader, writer)

    async def _watch(self, inst: ExecInstance) -> None:
        c = self._containers.get(inst.container_id)
        shim = self._containers.shim_or_none(c)
        code = 137
        if shim is not None:
            with contextlib.suppress(errors.BerthError):
                body = await shim.exec_state(inst.id, wait=True)
                value = body.get("exit_code")
                code = value if isinstance(value, int) else 137
        inst.exit_code, inst.running = code, False
        inst.done.set()
        self._containers.emit_exec_event(c, "exec_die", inst.id, code)

    async def wait(self, exec_id: str) -> int:
        """Wait until the exec has exited; its exit code."""
        inst = self.get(exec_id)
        await inst.done.wait()
        return inst.exit_code if inst.exit_code is not None else -1

    async def resize(self, exec_id: str, height: int, width: int) -> None:
        inst = self.get(exec_id)
        if inst.started and not inst.ready.is_set():
            # The docker CLI resizes as soon as the stream is hijacked, maybe before the
            # shim has answered the start.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(inst.ready.wait(), 10)
        if not inst.running:
            raise errors.Conflict(f"Exec {exec_id} is not running")
        c = self._containers.get(inst.container_id)
        shim = self._containers.running_shim(c)
        await shim.exec_resize(exec_id, height, width)

    def _forget_finished(self, keep: int = 256) -> None:
        """Drop the oldest finished exec instances beyond ``keep`` (moby cleans them too)."""
        finished = [e for e, i in self._execs.items() if i.done.is_set()]
        for eid in finished[:-keep]:
            del self._execs[eid]

    def ids_of(self, container_id: str) -> list[str] | None:
        """Inspect's ExecIDs: the container's execs not yet exited (created or running);
        None when there are none, as Docker answers."""
        ids = [e for e, i in self._execs.items()
               if i.container_id == container_id and not i.done.is_set()]
        return ids or None

    def forget_container(self, container_id: str) -> None:
        for eid in [e for e, i in self._execs.items() if i.container_id == container_id]:
            del self._execs[eid]

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
