"""OCI hooks: parse ``hooks`` from config.json and run one phase with the state on stdin.

Phases and where they run (container.py and the command line decide *when*):
``createRuntime``/``prestart`` in the runtime's namespaces once the container's exist;
``createContainer`` in the init's mount namespace before pivot_root; ``startContainer`` in
the container right before the user process; ``poststart`` after start; ``poststop`` at
delete. A hook that fails or outlives its ``timeout`` is a RuntimeFailure; the callers of
poststart/poststop only warn, as the spec asks. Must not know the container's lifecycle.
"""

from __future__ import annotations

import os

from berth.errors import RuntimeFailure
from berth.record import Record
from berth.runtime import _fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any, Final

__all__ = ["PHASES", "Hook", "parse_hooks", "run_hooks", "state_document"]

PHASES: Final = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
                 "poststop")


class Hook(Record):
    path: str
    args: tuple[str, ...]
    env: tuple[str, ...]
    timeout: float | None


def parse_hooks(raw: Mapping[str, Any] | None) -> dict[str, tuple[Hook, ...]]:
    """``spec["hooks"]`` -> hooks by phase; unknown phases and relative paths are refused."""
    out: dict[str, tuple[Hook, ...]] = {}
    for phase, entries in (raw or {}).items():
        if phase not in PHASES:
            raise RuntimeFailure(f"unknown hook phase {phase!r}")
        hooks = []
        for entry in entries or []:
            path = str(entry.get("path") or "")
            if not path.startswith("/"):
                raise RuntimeFailure(f"{phase} hook path {path!r} must be absolute")
            timeout = entry.get("timeout")
            if timeout is not None and int(timeout) <= 0:
                raise RuntimeFailure(f"{phase} hook timeout must be positive")
            hooks.append(Hook(path, tuple(str(a) for a in entry.get("args") or [path]),
                              tuple(str(e) for e in entry.get("env") or []),
                              float(timeout) if timeout is not None else None))
        out[phase] = tuple(hooks)
    return out


def state_document(container_id: str, status: str, pid: int, bundle: str,
                   annotations: Mapping[str, Any]) -> dict[str, Any]:
    """The OCI state a hook reads on its stdin."""
    doc: dict[str, Any] = {"ociVersion": "1.2.0", "id": container_id, "status": status,
                           "bundle": bundle, "annotations": dict(annotations)}
    if pid:
        doc["pid"] = pid
    return doc


def run_hooks(phase: str, hooks: Sequence[Hook], state: Mapping[str, Any]) -> None:
    """Run each hook in order with ``state`` as JSON on stdin; stop at the first failure."""
    import subprocess  # here, not at the top: ~4 ms of every berth-runtime start, most have no hooks

    data = _fastjson.dumps(state).encode()
    for hook in hooks:
        env = dict(e.split("=", 1) for e in hook.env if "=" in e)
        try:
            proc = subprocess.run(list(hook.args) or [hook.path], executable=hook.path, input=data,
                                  env=env, capture_output=True, timeout=hook.timeout, check=False,
                                  cwd=str(state.get("bundle") or "/") if os.path.isdir(
                                      str(state.get("bundle") or "")) else "/")
        except subprocess.TimeoutExpired as exc:
            raise RuntimeFailure(f"{phase} hook {hook.path} timed out after {hook.timeout}s") from exc
        except OSError as exc:
            raise RuntimeFailure(f"{phase} hook {hook.path}: {exc.strerror or exc}") from exc
        if proc.returncode != 0:
            detail = proc.stderr.decode(errors="replace").strip()
            raise RuntimeFailure(f"{phase} hook {hook.path} failed with status {proc.returncode}"
                                 + (f": {detail}" if detail else ""))
