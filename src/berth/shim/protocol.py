"""The daemon<->shim wire protocol: typed requests, responses and attach frames.

Owns the bytes on ``<state-dir>/shim.sock`` (documented in docs/internals.md, "Shim"): each
connection carries one JSON request line and one JSON response line; after a successful
``attach`` the connection becomes a raw stream of Docker multiplexed frames (8-byte header:
stream, three zero bytes, big-endian uint32 length) or raw pty bytes.

Must not do I/O or import asyncio: both the shim (selectors) and berthd (asyncio) use it.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any, Final

from berth import errors
from berth.timefmt import format_rfc3339nano, parse_rfc3339nano

__all__ = [
    "AttachRequest",
    "ExecRequest",
    "ExecResizeRequest",
    "ExecStateRequest",
    "ExitStatus",
    "FrameStream",
    "KillRequest",
    "PauseRequest",
    "PidsRequest",
    "ProcessStatus",
    "Request",
    "ResizeRequest",
    "ResumeRequest",
    "ShimState",
    "ShutdownRequest",
    "StartRequest",
    "StateRequest",
    "UpdateRequest",
    "WaitRequest",
    "decode_request",
    "decode_response",
    "encode_error",
    "encode_frame",
    "encode_ok",
    "encode_request",
]

_HEADER = struct.Struct(">BxxxI")

_ERROR_CLASSES: Final[dict[str, type[errors.BerthError]]] = {
    cls.__name__: cls
    for cls in (errors.NotFound, errors.AlreadyExists, errors.Conflict, errors.InvalidArgument,
                errors.NotModified, errors.Forbidden, errors.Unavailable, errors.RuntimeFailure,
                errors.Internal)
}


class ProcessStatus(Enum):
    """Where the container's init process is in its life."""

    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"


class FrameStream(IntEnum):
    """Stream numbers in Docker's multiplexed attach frames."""

    STDIN = 0
    STDOUT = 1
    STDERR = 2


def encode_frame(stream: FrameStream, data: bytes) -> bytes:
    return _HEADER.pack(stream, len(data)) + data


@dataclass(frozen=True)
class ExitStatus:
    """How and when the container's init ended; the same fields as exit.json."""

    exit_code: int
    finished_at_ns: int
    oom_killed: bool = False

    @property
    def finished_at(self) -> str:
        """RFC3339Nano, as Docker shows ``State.FinishedAt``."""
        return format_rfc3339nano(self.finished_at_ns)

    def to_json(self) -> dict[str, Any]:
        return {"exit_code": self.exit_code, "finished_at": self.finished_at,
                "oom_killed": self.oom_killed}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExitStatus:
        return cls(exit_code=int(data["exit_code"]),
                   finished_at_ns=parse_rfc3339nano(str(data["finished_at"])),
                   oom_killed=bool(data.get("oom_killed", False)))


@dataclass(frozen=True)
class ShimState:
    """Answer to ``state``: the init's host PID, status and (once stopped) exit code."""

    pid: int
    status: ProcessStatus
    exit_code: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "status": self.status.value, "exit_code": self.exit_code}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShimState:
        code = data.get("exit_code")
        return cls(pid=int(data["pid"]), status=ProcessStatus(data["status"]),
                   exit_code=None if code is None else int(code))


@dataclass(frozen=True)
class StartRequest:
    """Let the created init exec the user's process."""


@dataclass(frozen=True)
class KillRequest:
    signal: int
    all: bool = False


@dataclass(frozen=True)
class ResizeRequest:
    height: int
    width: int


@dataclass(frozen=True)
class StateRequest:
    pass


@dataclass(frozen=True)
class WaitRequest:
    """Answered only once the init has exited and its output is drained; the shim closes
    the connection once the runtime has deleted the container."""


@dataclass(frozen=True)
class AttachRequest:
    stdin: bool
    stdout: bool
    stderr: bool


@dataclass(frozen=True)
class ShutdownRequest:
    """Ask the shim to exit; refused while the container runs."""


@dataclass(frozen=True)
class ExecRequest:
    """Start a process in the running container. With ``attach`` the connection becomes its
    stream (as for attach) after the ``{"ok": true, "pid": N}`` line; else it is closed."""

    exec_id: str
    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str = ""
    user: str = ""
    privileged: bool = False
    tty: bool = False
    stdin: bool = False
    attach: bool = False


@dataclass(frozen=True)
class ExecStateRequest:
    """``{"pid", "running", "exit_code"}`` of an exec; with ``wait``, answered once it exited."""

    exec_id: str
    wait: bool = False


@dataclass(frozen=True)
class ExecResizeRequest:
    exec_id: str
    height: int
    width: int


@dataclass(frozen=True)
class PauseRequest:
    """Freeze every process of the container (freezer cgroup)."""


@dataclass(frozen=True)
class ResumeRequest:
    """Thaw a paused container."""


@dataclass(frozen=True)
class PidsRequest:
    """``{"pids": [...]}``: host PIDs of every process in the container's cgroup."""


@dataclass(frozen=True)
class UpdateRequest:
    """Apply OCI ``linux.resources`` to the running container's cgroup."""

    resources: dict[str, Any]


Request = (StartRequest | KillRequest | ResizeRequest | StateRequest | WaitRequest
           | AttachRequest | ShutdownRequest | ExecRequest | ExecStateRequest
           | ExecResizeRequest | PauseRequest | ResumeRequest | PidsRequest | UpdateRequest)


def encode_request(req: Request) -> bytes:
    body: dict[str, Any]
    match req:
        case StartRequest():
            body = {"op": "start"}
        case KillRequest(signal=sig, all=all_):
            body = {"op": "kill", "signal": sig, "all": all_}
        case ResizeRequest(height=h, width=w):
            body = {"op": "resize", "height": h, "width": w}
        case StateRequest():
            body = {"op": "state"}
        case WaitRequest():
            body = {"op": "wait"}
        case AttachRequest(stdin=i, stdout=o, stderr=e):
            body = {"op": "attach", "stdin": i, "stdout": o, "stderr": e}
        case ShutdownRequest():
            body = {"op": "shutdown"}
        case ExecRequest():
            body = {"op": "exec", "exec_id": req.exec_id, "args": list(req.args),
                    "env": list(req.env), "cwd": req.cwd, "user": req.user,
                    "privileged": req.privileged, "tty": req.tty, "stdin": req.stdin,
                    "attach": req.attach}
        case ExecStateRequest(exec_id=eid, wait=w):
            body = {"op": "exec_state", "exec_id": eid, "wait": w}
        case ExecResizeRequest(exec_id=eid, height=h, width=w):
            body = {"op": "exec_resize", "exec_id": eid, "height": h, "width": w}
        case PauseRequest():
            body = {"op": "pause"}
        case ResumeRequest():
            body = {"op": "resume"}
        case PidsRequest():
            body = {"op": "pids"}
        case UpdateRequest(resources=res):
            body = {"op": "update", "resources": res}
    return json.dumps(body).encode() + b"\n"


def _int(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise errors.InvalidArgument(f"shim request: {key!r} must be an integer")
    return value


def _strs(body: dict[str, Any], key: str) -> tuple[str, ...]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.InvalidArgument(f"shim request: {key!r} must be a list of strings")
    return tuple(value)


def decode_request(line: bytes) -> Request:
    """Parse one request line; raises InvalidArgument for anything malformed."""
    try:
        body = json.loads(line)
    except ValueError as e:
        raise errors.InvalidArgument(f"shim request is not JSON: {e}") from e
    if not isinstance(body, dict):
        raise errors.InvalidArgument("shim request must be a JSON object")
    op = body.get("op")
    if op == "start":
        return StartRequest()
    if op == "kill":
        return KillRequest(signal=_int(body, "signal"), all=bool(body.get("all", False)))
    if op == "resize":
        return ResizeRequest(height=_int(body, "height"), width=_int(body, "width"))
    if op == "state":
        return StateRequest()
    if op == "wait":
        return WaitRequest()
    if op == "attach":
        return AttachRequest(stdin=bool(body.get("stdin")), stdout=bool(body.get("stdout")),
                             stderr=bool(body.get("stderr")))
    if op == "shutdown":
        return ShutdownRequest()
    if op in ("exec", "exec_state", "exec_resize"):
        eid = body.get("exec_id")
        if not isinstance(eid, str) or not eid:
            raise errors.InvalidArgument("shim request: 'exec_id' must be a string")
        if op == "exec_state":
            return ExecStateRequest(eid, bool(body.get("wait")))
        if op == "exec_resize":
            return ExecResizeRequest(eid, _int(body, "height"), _int(body, "width"))
        return ExecRequest(eid, _strs(body, "args"), _strs(body, "env"), str(body.get("cwd") or ""),
                           str(body.get("user") or ""), bool(body.get("privileged")),
                           bool(body.get("tty")), bool(body.get("stdin")), bool(body.get("attach")))
    if op == "pause":
        return PauseRequest()
    if op == "resume":
        return ResumeRequest()
    if op == "pids":
        return PidsRequest()
    if op == "update":
        res = body.get("resources")
        if not isinstance(res, dict):
            raise errors.InvalidArgument("shim request: 'resources' must be an object")
        return UpdateRequest(res)
    raise errors.InvalidArgument(f"unknown shim operation {op!r}")


def encode_ok(fields: dict[str, Any] | None = None) -> bytes:
    return json.dumps({"ok": True, **(fields or {})}).encode() + b"\n"


def encode_error(err: errors.BerthError) -> bytes:
    kind = type(err).__name__ if type(err).__name__ in _ERROR_CLASSES else "Internal"
    return json.dumps({"ok": False, "error": err.message, "kind": kind}).encode() + b"\n"


def decode_response(line: bytes) -> dict[str, Any]:
    """The fields of a successful response; a failure is raised as its berth.errors class."""
    try:
        body = json.loads(line)
    except ValueError as e:
        raise errors.Internal(f"malformed shim response {line[:200]!r}") from e
    if not isinstance(body, dict):
        raise errors.Internal(f"malformed shim response {line[:200]!r}")
    if body.get("ok") is True:
        return body
    cls = _ERROR_CLASSES.get(str(body.get("kind")), errors.Internal)
    raise cls(str(body.get("error", "shim request failed")))
