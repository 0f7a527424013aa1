"""The OCI runtime a shim drives: berth's own (in-process), runc or crun (``--runtime``).

Both take the same bundle (config.json from berthd's specgen) and give the shim the same
operations, so everything above this seam (stdio, logs, attach, exit status, exec streams)
is shared. runc gets the rootfs ready-mounted on ``<bundle>/rootfs`` (berth's runtime mounts
it inside the new mount namespace itself) and keeps its state under ``<runtime_root>/runc``.
Under runc, ``tty`` and ``--privileged``/named-user exec are refused (not implemented yet).
Must not use threads: runc is run with blocking subprocess calls from the shim's loop.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from berth.errors import Conflict, NotFound, RuntimeFailure
from berth.mount import Mount, mount_all, unmount

__all__ = ["Backend", "BerthBackend", "CreatedProcess", "RuncBackend", "backend_for"]


class CreatedProcess(Protocol):
    pid: int
    console_fd: int | None

    def start(self) -> None: ...


class Backend(Protocol):
    def create(self, id: str, bundle: Path, rootfs_mounts: Sequence[Mount], stdin: int | None,
               stdout: int | None, stderr: int | None, console: bool) -> CreatedProcess: ...
    def kill(self, id: str, sig: int, all: bool = False) -> None: ...
    def delete(self, id: str) -> None: ...
    def cgroup_paths(self, id: str) -> Mapping[str, str]: ...
    def cgroup_pids(self, id: str) -> list[int]: ...
    def pause(self, id: str) -> None: ...
    def resume(self, id: str) -> None: ...
    def update(self, id: str, resources: Mapping[str, Any]) -> None: ...
    def exec(self, id: str, args: Sequence[str], env: Sequence[str], cwd: str, user: str,
             privileged: bool, tty: bool, stdin: int | None, stdout: int | None,
             stderr: int | None) -> tuple[int, int | None]: ...


class BerthBackend:
    """berth.runtime, in this process."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def create(self, id: str, bundle: Path, rootfs_mounts: Sequence[Mount], stdin: int | None,
               stdout: int | None, stderr: int | None, console: bool) -> CreatedProcess:
        from berth.runtime.container import CreateOptions, create

        return create(CreateOptions(id=id, bundle=bundle, state_root=self._root,
                                    rootfs_mounts=list(rootfs_mounts), stdin=stdin,
                                    stdout=stdout, stderr=stderr, console=console))

    def kill(self, id: str, sig: int, all: bool = False) -> None:
        from berth.runtime import container

        container.kill(self._root, id, sig, all=all)

    def delete(self, id: str) -> None:
        from berth.runtime import container

        container.delete(self._root, id)

    def cgroup_paths(self, id: str) -> Mapping[str, str]:
        from berth.runtime import container

        return container.state(self._root, id).cgroup_paths

    def cgroup_pids(self, id: str) -> list[int]:
        from berth.runtime import container

        return container.cgroup_pids(self._root, id)

    def pause(self, id: str) -> None:
        from berth.runtime import control

        control.pause(self._root, id)

    def resume(self, id: str) -> None:
        from berth.runtime import control

        control.resume(self._root, id)

    def update(self, id: str, resources: Mapping[str, Any]) -> None:
        from berth.runtime import control

        control.update(self._root, id, resources)

    def exec(self, id: str, args: Sequence[str], env: Sequence[str], cwd: str, user: str,
             privileged: bool, tty: bool, stdin: int | None, stdout: int | None,
             stderr: int | None) -> tuple[int, int | None]:
        from berth.runtime.exec import ExecOptions, exec_process

        started = exec_process(self._root, id, ExecOptions(
            args=tuple(args), env=tuple(env), cwd=cwd, user=user, privileged=privileged,
            tty=tty, stdin=stdin, stdout=stdout, stderr=stderr))
        return started.pid, started.console_fd


class _RuncCreated:
    def __init__(self, backend: RuncBackend, id: str, pid: int) -> None:
        self._backend = backend
        self.id = id
        self.pid = pid
        self.console_fd: int | None = None

    def start(self) -> None:
        self._backend.run("start", self.id)


class RuncBackend:
    """runc (the oracle runtime) on the same bundle; crun takes the same command line."""

    def __init__(self, root: Path, binary: str = "runc") -> None:
        self._root = root / binary
        self._binary = shutil.which(binary) or binary
        self._bundles: dict[str, Path] = {}

    def run(self, *args: str, stdin: int | None = None, stdout: int | None = None,
            stderr: int | None = None) -> str:
        log = self._root / "runc.log"
        self._root.mkdir(parents=True, exist_ok=True)
        cmd = [self._binary, "--root", str(self._root), "--log", str(log), "--log-format",
               "json", *args]
        try:
            proc = subprocess.run(cmd, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                  stdout=stdout if stdout is not None else subprocess.PIPE,
                                  stderr=stderr if stderr is not None else subprocess.PIPE,
                                  timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise RuntimeFailure(f"{self._root.name} {args[0]}: {e}") from e
        if proc.returncode != 0:
            raise RuntimeFailure(f"{self._root.name} {args[0]}: {_last_error(log) or 'failed'}")
        return proc.stdout.decode(errors="replace") if proc.stdout else ""

    def _cgroup(self, id: str) -> Any:
        from berth.runtime.cgroups import detect

        bundle = self._bundles.get(id)
        if bundle is None:
            state = json.loads(self.run("state", id))
            bundle = Path(state["bundle"])
            self._bundles[id] = bundle
        spec = json.loads((bundle / "config.json").read_text())
        return detect((spec.get("linux") or {}).get("cgroupsPath"), id)

    def create(self, id: str, bundle: Path, rootfs_mounts: Sequence[Mount], stdin: int | None,
               stdout: int | None, stderr: int | None, console: bool) -> CreatedProcess:
        if console:
            raise RuntimeFailure(f"--runtime {self._root.name}: a tty is not supported by "
                                 "berth's runc/crun driver yet")
        rootfs = bundle / "rootfs"
        mount_all(list(rootfs_mounts), str(rootfs))
        pid_file = self._root / f"{id}.pid"
        devnull = os.open(os.devnull, os.O_RDWR)
        try:
            self.run("create", "--bundle", str(bundle), "--pid-file", str(pid_file), id,
                     stdin=devnull if stdin is None else stdin,
                     stdout=devnull if stdout is None else stdout,
                     stderr=devnull if stderr is None else stderr)
            pid = int(pid_file.read_text())
        except BaseException:
            unmount(str(rootfs))
            raise
        finally:
            os.close(devnull)
        self._bundles[id] = bundle
        return _RuncCreated(self, id, pid)

    def kill(self, id: str, sig: int, all: bool = False) -> None:
        args = ["kill", *(["--all"] if all else []), id, str(sig)]
        try:
            self.run(*args)
        except RuntimeFailure as e:
            if "not running" in str(e) or "process already finished" in str(e):
                raise Conflict(f"container {id} is not running") from e
            raise

    def delete(self, id: str) -> None:
        bundle = self._bundles.get(id)
        try:
            self.run("delete", "--force", id)
        except RuntimeFailure as e:
            if "does not exist" not in str(e):
                raise
        if bundle is not None:
            unmount(str(bundle / "rootfs"))
        (self._root / f"{id}.pid").unlink(missing_ok=True)

    def cgroup_paths(self, id: str) -> Mapping[str, str]:
        return {k: str(v) for k, v in self._cgroup(id).paths.items()}

    def cgroup_pids(self, id: str) -> list[int]:
        pids: list[int] = self._cgroup(id).pids()
        return pids

    def pause(self, id: str) -> None:
        self.run("pause", id)

    def resume(self, id: str) -> None:
        self.run("resume", id)

    def update(self, id: str, resources: Mapping[str, Any]) -> None:
        self._cgroup(id).apply(resources)

    def exec(self, id: str, args: Sequence[str], env: Sequence[str], cwd: str, user: str,
             privileged: bool, tty: bool, stdin: int | None, stdout: int | None,
             stderr: int | None) -> tuple[int, int | None]:
        if tty or privileged or (user and not user.replace(":", "").isdigit()):
            raise RuntimeFailure("--runtime runc: exec with a tty, --privileged or a user name "
                                 "is not supported by berth's runc driver yet")
        pid_file = self._root / f"{id}.exec.pid"
        flags = ["exec", "--detach", "--pid-file", str(pid_file)]
        for e in env:
            flags += ["--env", e]
        if cwd:
            flags += ["--cwd", cwd]
        if user:
            flags += ["--user", user]
        devnull = os.open(os.devnull, os.O_RDWR)
        try:
            self.run(*flags, id, *args, stdin=devnull if stdin is None else stdin,
                     stdout=devnull if stdout is None else stdout,
                     stderr=devnull if stderr is None else stderr)
        finally:
            os.close(devnull)
        pid = int(pid_file.read_text())
        pid_file.unlink(missing_ok=True)
        return pid, None


def _last_error(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("level") in ("error", "fatal"):
            return str(entry.get("msg", ""))
    return ""


def backend_for(runtime: str, root: Path) -> Backend:
    if runtime in ("", "berth"):
        return BerthBackend(root)
    if runtime in ("runc", "crun"):
        return RuncBackend(root, runtime)
    raise NotFound(f"unknown runtime {runtime!r}")
